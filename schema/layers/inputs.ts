import { IsOptional, Length, Matches, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { GraphQLJSON } from '../common/bounded-json';
import { Field, ID, InputType, registerEnumType } from 'type-graphql';

/** Requirement operators. */
export enum RequirementOperator {
  EQ = 'EQ',
  NEQ = 'NEQ',
  IN = 'IN',
  GTE = 'GTE',
  LTE = 'LTE',
  EXISTS = 'EXISTS',
}
registerEnumType(RequirementOperator, { name: 'RequirementOperator' });

/** A property of a layer. */
@InputType()
export class LayerPropertyInput {
  @Field()
  @Matches(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, { message: 'property keys are letters, digits, _ . -' })
  key: string;

  @Field(() => GraphQLJSON, { description: 'A string, number or boolean.' })
  value: string | number | boolean;

  @Field({ defaultValue: false, description: 'Upper layers cannot override it.' })
  locked: boolean;
}

/** A requirement on effective properties. */
@InputType()
export class LayerRequirementInput {
  @Field()
  key: string;

  @Field(() => RequirementOperator)
  op: RequirementOperator;

  @Field(() => [GraphQLJSON], { defaultValue: [] })
  values: Array<string | number | boolean>;
}

/** Where a layer sits and what it has and needs; every field optional. Shared by creation and update. */
@InputType()
export class LayerContentInput {
  @Field(() => ID, { nullable: true })
  @IsOptional()
  parentId?: string;

  @Field(() => [LayerPropertyInput], { nullable: true })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => LayerPropertyInput)
  properties?: LayerPropertyInput[];

  @Field(() => [LayerRequirementInput], { nullable: true })
  @IsOptional()
  requirements?: LayerRequirementInput[];
}

/** A new layer. */
@InputType()
export class CreateLayerInput extends LayerContentInput {
  @Field(() => ID)
  groupId: string;

  @Field({ description: 'OS, ZONE, SERVICE or another UPPER_CASE kind.' })
  kind: string;

  @Field()
  @Length(1, 200)
  name: string;
}

/** Changes to a layer. */
@InputType()
export class UpdateLayerInput extends LayerContentInput {
  @Field(() => ID)
  id: string;
}

/** Validates a property value type (string, number, boolean). */
export function isPropertyValue(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
