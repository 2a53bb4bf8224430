import { ArrayMinSize, IsOptional, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { GraphQLJSONObject } from '../common/bounded-json';
import { ArgsType, Field, Float, ID, InputType } from 'type-graphql';
import { ResourceUnit } from '../../gateway/persistence/entities';
import { PageArgs } from '../common/connection';

const TYPE = /^[A-Z][A-Z0-9_]{0,49}$/;
const TYPE_MESSAGE = 'type must be UPPER_CASE letters, digits and _ (CPU, RAM, DISK, NET_BANDWIDTH or custom)';

/** Inventory numbers. */
@InputType()
export class InventoryInput {
  @Field(() => Float)
  @Min(0)
  total: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  reserved?: number;

  @Field(() => Float, { nullable: true, description: 'Overbooking factor (> 0, ≤ 100).' })
  @IsOptional()
  @Min(0.01)
  @Max(100)
  allocationRatio?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  minUnit?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  maxUnit?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  stepSize?: number;
}

/** A new resource of a host. */
@InputType()
export class CreateResourceInput extends InventoryInput {
  @Field(() => ID)
  hostId: string;

  @Field()
  @Matches(TYPE, { message: TYPE_MESSAGE })
  type: string;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;

  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 300)
  description?: string;

  @Field(() => GraphQLJSONObject, { nullable: true })
  @IsOptional()
  attributes?: Record<string, unknown>;
}

/** Inventory changes of a resource. */
@InputType()
export class UpdateInventoryInput {
  @Field(() => ID)
  id: string;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  total?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  reserved?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0.01)
  @Max(100)
  allocationRatio?: number;
}

/** Resource discovery filters. */
@ArgsType()
export class ResourceListArgs extends PageArgs {
  @Field({ nullable: true })
  type?: string;

  @Field(() => ID, { nullable: true })
  hostId?: string;

  @Field(() => ID, { nullable: true })
  siteId?: string;

  @Field({ nullable: true })
  technology?: string;

  @Field(() => Float, { nullable: true, description: 'At least this much free (in the resource unit).' })
  @IsOptional()
  @Min(0)
  minFree?: number;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Attributes that must match exactly.' })
  attributes?: Record<string, unknown>;

  @Field(() => ID, { nullable: true, description: 'Only resources of hosts matching this resource class.' })
  classId?: string;
}

/** A requirement of a resource class. */
@InputType()
export class ClassRequirementInput {
  @Field()
  @Matches(TYPE, { message: TYPE_MESSAGE })
  type: string;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;

  @Field(() => Float)
  @Min(0)
  amount: number;
}

/** A new resource class. */
@InputType()
export class CreateResourceClassInput {
  @Field()
  @Length(1, 100)
  name: string;

  @Field({ nullable: true })
  @IsOptional()
  description?: string;

  @Field(() => [String], { nullable: true })
  @IsOptional()
  uses?: string[];

  @Field(() => GraphQLJSONObject, { nullable: true })
  @IsOptional()
  metadata?: Record<string, unknown>;

  @Field(() => [ClassRequirementInput])
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => ClassRequirementInput)
  requirements: ClassRequirementInput[];
}
