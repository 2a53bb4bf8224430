import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ReplicationKind, ReplicationTargetKind } from '../../gateway/persistence/entities';

registerEnumType(ReplicationTargetKind, { name: 'ReplicationTargetKind', description: 'Where replicas are meant to live and be restored: a host, any host of a site or of a group, or only the artifact store.' });
registerEnumType(ReplicationKind, { name: 'ReplicationKind', description: 'EXTERNAL: made by the host from outside (the whole environment); INTERNAL: the output of a command run inside the environment.' });

/** Where a policy's replicas go. */
@ObjectType({ description: "Where a policy's replicas go." })
export class ReplicationTarget {
  @Field(() => ReplicationTargetKind)
  kind: ReplicationTargetKind;

  @Field(() => ID, { nullable: true, description: 'The host, site or group; null for STORE.' })
  id: string | null;
}

/** The Proxmox-style status of a policy. */
@ObjectType({ description: 'How the runs of a policy went (in the style of Proxmox replication).' })
export class ReplicationStatus {
  @Field(() => Date, { nullable: true, description: 'End of the last successful run.' })
  lastSyncAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'Start of the last run, successful or not.' })
  lastTryAt: Date | null;

  @Field(() => Int, { nullable: true })
  lastDurationMs: number | null;

  @Field(() => Int, { description: 'Failures since the last success; retries back off exponentially.' })
  failCount: number;

  @Field(() => Date, { nullable: true })
  nextRunAt: Date | null;

  @Field(() => String, { nullable: true })
  lastError: string | null;

  @Field(() => ID, { nullable: true, description: 'The operation of the run in progress.' })
  runningOperationId: string | null;

  @Field(() => String, { description: 'OK, FAILED, RUNNING, PENDING (never ran) or DISABLED.' })
  state: string;
}

/** A replication policy. */
@ObjectType({ description: 'Which layer replicates an environment to which target, how often, how many copies are kept.' })
export class ReplicationPolicy {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID)
  environmentId: string;

  @Field(() => ID, { description: 'The layer that replicates (itself and the layers above it).' })
  layerId: string;

  @Field(() => ReplicationTarget)
  target: ReplicationTarget;

  @Field({ description: 'A 5-field cron expression (UTC) or "every N minutes".' })
  schedule: string;

  @Field(() => Int)
  keep: number;

  @Field(() => ReplicationKind)
  kind: ReplicationKind;

  @Field(() => [String], { nullable: true })
  backupCommand: string[] | null;

  @Field(() => [String], { nullable: true })
  restoreCommand: string[] | null;

  @Field()
  autoFailover: boolean;

  @Field()
  encrypted: boolean;

  @Field()
  enabled: boolean;

  @Field(() => ReplicationStatus)
  status: ReplicationStatus;

  @Field(() => ID, { nullable: true, description: 'SITE and GROUP targets: the host chosen to keep the replicas (chosen at the first run; again only when it is no longer usable).' })
  storeHostId: string | null;

  @Field()
  createdAt: Date;
}

/** A replica. */
@ObjectType({ description: "A checksummed, restorable copy in an artifact store: a host agent's (storeHostId) or the gateway's." })
export class Replica {
  @Field(() => ID)
  id: string;

  @Field(() => ID, { nullable: true })
  policyId: string | null;

  @Field(() => ID)
  environmentId: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID, { nullable: true })
  layerId: string | null;

  @Field(() => ReplicationKind)
  kind: ReplicationKind;

  @Field({ description: 'The artifact store manifest.' })
  manifestId: string;

  @Field(() => Float)
  bytes: number;

  @Field(() => Float, { description: "Bytes this run added to the source host's store (the rest was there already)." })
  newBytes: number;

  @Field(() => Float, { description: 'Bytes copied to the store that keeps the replica: the chunks it lacked (0 when it is the source host\'s own store).' })
  movedBytes: number;

  @Field(() => ID, { nullable: true, description: "The host whose agent's store keeps the replica; null: the gateway's store (RSP_ARTIFACT_DIR)." })
  storeHostId: string | null;

  @Field(() => Int)
  chunks: number;

  @Field()
  encrypted: boolean;

  @Field(() => ReplicationTarget)
  target: ReplicationTarget;

  @Field({ description: "The environment's name when the replica was made." })
  environmentName: string;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When every checksum was last verified.' })
  verifiedAt: Date | null;
}
