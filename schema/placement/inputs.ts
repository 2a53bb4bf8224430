import { ArrayMaxSize, ArrayMinSize, IsInt, IsOptional, Matches, Max, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { ArgsType, Field, Float, ID, InputType, Int } from 'type-graphql';
import { AllocationGuarantee, AllocationRequestStatus, AllocationStatus, AntiAffinity, PlacementMode, ResourceUnit } from '../../gateway/persistence/entities';
import { PageArgs } from '../common/connection';
import { LayerRequirementInput } from '../layers/inputs';

/** One resource wanted by each replica. */
@InputType()
export class ResourceWantInput {
  @Field()
  @Matches(/^[A-Z][A-Z0-9_]{0,49}$/, { message: 'type must be UPPER_CASE letters, digits and _' })
  type: string;

  @Field(() => Float)
  amount: number;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;
}

/** An allocation request (RSpec-like). */
@InputType()
export class AllocationRequestInput {
  @Field(() => ID, { description: 'The group whose share is charged.' })
  groupId: string;

  @Field(() => PlacementMode, { defaultValue: PlacementMode.AUTOMATIC })
  mode: PlacementMode;

  @Field(() => AllocationGuarantee, { defaultValue: AllocationGuarantee.BEST_EFFORT })
  guarantee: AllocationGuarantee;

  @Field(() => [ResourceWantInput])
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => ResourceWantInput)
  resources: ResourceWantInput[];

  @Field(() => [String], { nullable: true, description: 'Technologies in order of preference; none = any.' })
  @IsOptional()
  technologies?: string[];

  @Field(() => [LayerRequirementInput], { nullable: true, description: "Required effective properties of the host's machine layer." })
  @IsOptional()
  requiredProperties?: LayerRequirementInput[];

  @Field(() => AntiAffinity, { nullable: true, description: 'Default: HOST with several replicas, NONE with one.' })
  @IsOptional()
  antiAffinity?: AntiAffinity;

  @Field(() => Int, { nullable: true, defaultValue: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  replicas?: number;

  @Field(() => [ID], { nullable: true, description: 'DIRECT: one host per replica.' })
  @IsOptional()
  hostIds?: string[];

  @Field(() => Int, { nullable: true, description: 'Lease in seconds (GUARANTEED default: 3600).' })
  @IsOptional()
  @IsInt()
  @Min(1)
  leaseSeconds?: number;
}

/** A batch of requests. */
@ArgsType()
export class AllocateManyArgs {
  @Field(() => [AllocationRequestInput])
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => AllocationRequestInput)
  requests: AllocationRequestInput[];
}

/** Filters of allocation lists. */
@ArgsType()
export class AllocationListArgs extends PageArgs {
  @Field(() => ID, { nullable: true })
  groupId?: string;

  @Field(() => ID, { nullable: true })
  hostId?: string;

  @Field(() => ID, { nullable: true })
  requestId?: string;

  @Field(() => AllocationStatus, { nullable: true })
  status?: AllocationStatus;
}

/** Filters of allocation request lists. */
@ArgsType()
export class AllocationRequestListArgs extends PageArgs {
  @Field(() => ID, { nullable: true })
  groupId?: string;

  @Field(() => AllocationRequestStatus, { nullable: true })
  status?: AllocationRequestStatus;
}
