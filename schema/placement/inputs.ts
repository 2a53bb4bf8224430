import { ArgsType, Field, Float, ID, InputType, Int } from 'type-graphql';
import { AllocationGuarantee, AllocationRequestStatus, AllocationStatus, AntiAffinity, PlacementMode, ResourceUnit } from '../../gateway/persistence/entities';
import { PageArgs } from '../common/connection';
import { LayerRequirementInput } from '../layers/inputs';

/** One resource wanted by each replica. Checked by the placement service (`validateRequest`), like the whole request. */
@InputType()
export class ResourceWantInput {
  @Field()
  type: string;

  @Field(() => Float)
  amount: number;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;
}

/**
 * An allocation request (RSpec-like). Its rules (type and unit, amounts, replicas, lease, hosts
 * named) are checked in one place, the placement service's `validateRequest`, so that in a batch
 * each item that breaks one gets its own BAD_USER_INPUT and the others are still placed.
 */
@InputType()
export class AllocationRequestInput {
  @Field(() => ID, { description: 'The group whose share is charged.' })
  groupId: string;

  @Field(() => PlacementMode, { defaultValue: PlacementMode.AUTOMATIC })
  mode: PlacementMode;

  @Field(() => AllocationGuarantee, { defaultValue: AllocationGuarantee.BEST_EFFORT })
  guarantee: AllocationGuarantee;

  @Field(() => [ResourceWantInput])
  resources: ResourceWantInput[];

  @Field(() => [String], { nullable: true, description: 'Technologies in order of preference; none = any.' })
  technologies?: string[];

  @Field(() => [LayerRequirementInput], { nullable: true, description: "Required effective properties of the host's machine layer." })
  requiredProperties?: LayerRequirementInput[];

  @Field(() => AntiAffinity, { nullable: true, description: 'Default: HOST with several replicas, NONE with one.' })
  antiAffinity?: AntiAffinity;

  @Field(() => Int, { nullable: true, defaultValue: 1 })
  replicas?: number;

  @Field(() => [ID], { nullable: true, description: "DIRECT: one host per replica. APPROVAL: none, or the hosts asked for (one per replica): then the admins governing them decide too." })
  hostIds?: string[];

  @Field(() => Int, { nullable: true, description: 'Lease in seconds (GUARANTEED default: 3600).' })
  leaseSeconds?: number;
}

/** A batch of requests (at most MAX_BATCH, checked by the placement service). */
@ArgsType()
export class AllocateManyArgs {
  @Field(() => [AllocationRequestInput])
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
