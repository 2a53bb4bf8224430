import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AllocationGuarantee, AllocationRequestStatus, AllocationStatus, AntiAffinity, PlacementMode, ResourceUnit } from '../../gateway/persistence/entities';
import { Connection } from '../common/connection';
import { LayerRequirement } from '../layers/types';

registerEnumType(PlacementMode, { name: 'PlacementMode', description: 'DIRECT: the requester names the hosts; AUTOMATIC: the scheduler picks; APPROVAL: a site admin decides.' });
registerEnumType(AllocationGuarantee, { name: 'AllocationGuarantee', description: 'BEST_EFFORT may overbook (allocationRatio); GUARANTEED never does and holds a lease.' });
registerEnumType(AllocationRequestStatus, { name: 'AllocationRequestStatus' });
registerEnumType(AllocationStatus, { name: 'AllocationStatus' });
registerEnumType(AntiAffinity, { name: 'AntiAffinity', description: 'Spread between the replicas of one request.' });

/** One resource wanted by each replica. */
@ObjectType()
export class ResourceWant {
  @Field()
  type: string;

  @Field(() => Float)
  amount: number;

  @Field(() => ResourceUnit)
  unit: string;
}

/** What a request asks for. */
@ObjectType({ description: 'What an allocation request asks for (RSpec-like).' })
export class AllocationSpec {
  @Field(() => [ResourceWant])
  resources: ResourceWant[];

  @Field(() => [String], { description: 'Technologies in order of preference; empty = any.' })
  technologies: string[];

  @Field(() => [LayerRequirement], { description: "Required effective properties of the host's machine layer." })
  requiredProperties: LayerRequirement[];

  @Field(() => AntiAffinity)
  antiAffinity: AntiAffinity;

  @Field(() => Int)
  replicas: number;

  @Field(() => [ID], { description: 'DIRECT: the hosts the requester named.' })
  hostIds: string[];
}

/** One replica placed on a host, holding capacity there. */
@ObjectType({ description: 'One replica of a request placed on a host; its claims hold capacity of the host resources.' })
export class Allocation {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  requestId: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID)
  hostId: string;

  @Field({ description: 'The technology chosen on the host.' })
  technology: string;

  @Field(() => AllocationGuarantee)
  guarantee: AllocationGuarantee;

  @Field(() => AllocationStatus)
  status: AllocationStatus;

  @Field(() => Float, { description: "The scheduler's score of the host when chosen." })
  score: number;

  @Field(() => Date, { nullable: true, description: 'When the lease ends unless renewed.' })
  expiresAt: Date | null;

  @Field(() => Date, { nullable: true })
  endedAt: Date | null;

  @Field(() => ID, { nullable: true, description: 'An implicit allocation: the environment whose limits it holds (made with it, released when it is destroyed or leaves the host).' })
  environmentId: string | null;

  @Field(() => ID, { nullable: true, description: 'An implicit allocation: the replica whose bytes it holds on the host keeping it (released when the replica is deleted).' })
  replicaId: string | null;

  @Field()
  createdAt: Date;
}

/** A request and how it was decided. */
@ObjectType({ description: 'An allocation request and how it was placed: directly, automatically, or by a site admin.' })
export class AllocationRequest {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  groupId: string;

  @Field()
  requestedBy: string;

  @Field(() => PlacementMode)
  mode: PlacementMode;

  @Field(() => AllocationGuarantee)
  guarantee: AllocationGuarantee;

  @Field(() => AllocationSpec)
  spec: AllocationSpec;

  @Field(() => Int, { nullable: true })
  leaseSeconds: number | null;

  @Field(() => AllocationRequestStatus)
  status: AllocationRequestStatus;

  @Field(() => String, { nullable: true, description: "The decider's reason (rejections always have one)." })
  reason: string | null;

  @Field(() => String, { nullable: true, description: "Who decided: the token's name (a site admin's or the group's own), or `an admin of group <id>` for the admins of another group governing the host." })
  decidedBy: string | null;

  @Field(() => Date, { nullable: true })
  decidedAt: Date | null;

  @Field()
  createdAt: Date;
}

/** A host the scheduler would use, with its score. */
@ObjectType()
export class PlacementCandidate {
  @Field(() => ID)
  hostId: string;

  @Field()
  hostname: string;

  @Field(() => ID)
  siteId: string;

  @Field(() => Float, { description: 'Higher is better: 10 × technology preference + fit under the site policy (0–1).' })
  score: number;

  @Field()
  technology: string;
}

/** A host a filter rejected. */
@ObjectType()
export class PlacementRejection {
  @Field(() => ID)
  hostId: string;

  @Field()
  hostname: string;

  @Field({ description: 'HOST_STATE, TECHNOLOGY, ANTI_AFFINITY, CAPACITY, QUOTA, USAGE_POLICY or PROPERTIES.' })
  filter: string;

  @Field()
  reason: string;
}

/** The dry run's answer. */
@ObjectType({ description: 'A dry run: feasible hosts best first, and why the others were rejected.' })
export class PlacementExplanation {
  @Field(() => [PlacementCandidate])
  candidates: PlacementCandidate[];

  @Field(() => [PlacementRejection])
  rejected: PlacementRejection[];
}

/** An error of one batch item. */
@ObjectType()
export class ItemError {
  @Field({ description: 'The GraphQL error code (CONFLICT, FORBIDDEN, BAD_USER_INPUT…).' })
  code: string;

  @Field()
  message: string;
}

/** The result of one item of allocateMany. */
@ObjectType({ description: 'One item of allocateMany: its request, or its error.' })
export class AllocationResult {
  @Field(() => Int)
  index: number;

  @Field(() => AllocationRequest, { nullable: true })
  request: AllocationRequest | null;

  @Field(() => ItemError, { nullable: true })
  error: ItemError | null;
}

/** A page of allocations. */
@ObjectType()
export class AllocationConnection extends Connection(Allocation) {}

/** A page of allocation requests. */
@ObjectType()
export class AllocationRequestConnection extends Connection(AllocationRequest) {}
