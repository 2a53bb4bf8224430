import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Alert } from '../metrics/types';
import { Operation } from '../operations/types';
import { droppedOf } from './dropped';

/** Kinds of entries of the `events` stream. */
export enum EventKind {
  OPERATION = 'OPERATION',
  ENVIRONMENT = 'ENVIRONMENT',
  ALERT = 'ALERT',
  HOST = 'HOST',
  REPLICATION = 'REPLICATION',
  ALLOCATION = 'ALLOCATION',
  EXCHANGE = 'EXCHANGE',
}

registerEnumType(EventKind, { name: 'EventKind', description: 'Kinds of entries of the events stream.' });

/** An environment's status change. */
@ObjectType({ description: "An environment's status changed." })
export class EnvironmentChange {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => ID)
  hostId: string;

  @Field()
  status: string;
}

/** A host's state change. */
@ObjectType({ description: "A host's state changed: marked DOWN by the failure detector, or back UP after the split-brain guard." })
export class HostChange {
  @Field(() => ID)
  id: string;

  @Field()
  hostname: string;

  @Field()
  state: string;

  @Field(() => Date, { nullable: true })
  lastHeartbeatAt: Date | null;
}

/** A replication run ended. */
@ObjectType({ description: 'A replication run ended: succeeded with a replica, or failed with an error.' })
export class ReplicationRun {
  @Field(() => ID)
  policyId: string;

  @Field()
  policyName: string;

  @Field(() => ID)
  environmentId: string;

  @Field({ description: 'SUCCEEDED or FAILED.' })
  state: string;

  @Field(() => ID, { nullable: true })
  replicaId: string | null;

  @Field(() => Float, { nullable: true })
  bytes: number | null;

  @Field(() => Float, { nullable: true })
  newBytes: number | null;

  @Field(() => Float, { nullable: true, description: 'Bytes copied to the store that keeps the replica (its target): what moved between hosts.' })
  movedBytes: number | null;

  @Field(() => Int, { nullable: true })
  chunks: number | null;

  @Field(() => String, { nullable: true })
  error: string | null;
}

/** An allocation request of APPROVAL mode was made, approved or rejected. */
@ObjectType({ description: 'An allocation request waiting for a site admin was made (REQUESTED), approved or rejected.' })
export class AllocationChange {
  @Field(() => ID)
  requestId: string;

  @Field({ description: 'REQUESTED, APPROVED or REJECTED.' })
  change: string;

  @Field({ description: "The request's status after the change." })
  status: string;

  @Field(() => String, { nullable: true })
  reason: string | null;

  @Field(() => String, { nullable: true })
  decidedBy: string | null;

  @Field(() => [ID], { description: 'Hosts placed on (APPROVED).' })
  hostIds: string[];

  @Field(() => [ID], { description: 'Allocations placed (APPROVED).' })
  allocationIds: string[];
}

/** An offer accepted or a need granted. */
@ObjectType({ description: 'An offer was accepted (OFFER_ACCEPTED) or a need granted (NEED_GRANTED): a share of a host passed from one group to another. Both groups see it.' })
export class ExchangeChange {
  @Field({ description: 'OFFER_ACCEPTED or NEED_GRANTED.' })
  change: string;

  @Field(() => ID, { description: 'The share the receiving group holds on the host now.' })
  shareId: string;

  @Field(() => ID)
  hostId: string;

  @Field(() => ID, { description: 'The group whose host it is.' })
  fromGroupId: string;

  @Field(() => ID, { description: 'The group that received the share.' })
  toGroupId: string;

  @Field(() => ID, { nullable: true })
  offerId: string | null;

  @Field(() => ID, { nullable: true })
  needId: string | null;

  @Field()
  resourceType: string;

  @Field()
  unit: string;

  @Field(() => Float)
  amount: number;
}

/** One entry of the `events` stream. */
@ObjectType({ description: 'An operation update, an environment change, an alert fired/resolved, an allocation approval step or an exchange of capacity.' })
export class Event {
  @Field(() => EventKind)
  kind: EventKind;

  @Field()
  at: Date;

  @Field(() => ID, { nullable: true })
  groupId: string | null;

  @Field(() => ID, { nullable: true })
  siteId: string | null;

  @Field(() => Operation, { nullable: true })
  operation?: Operation;

  @Field(() => EnvironmentChange, { nullable: true })
  environment?: EnvironmentChange;

  @Field(() => Alert, { nullable: true })
  alert?: Alert;

  @Field(() => HostChange, { nullable: true })
  host?: HostChange;

  @Field(() => ReplicationRun, { nullable: true })
  replication?: ReplicationRun;

  @Field(() => AllocationChange, { nullable: true })
  allocation?: AllocationChange;

  @Field(() => ExchangeChange, { nullable: true })
  exchange?: ExchangeChange;

  @Field(() => Int, { description: 'Events dropped so far for this subscriber because it read too slowly.' })
  dropped(): number {
    return droppedOf(this);
  }
}
