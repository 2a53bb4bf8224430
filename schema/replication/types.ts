import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ReplicaVerifyState, ReplicationKind, ReplicationTargetKind, RestoreDrillState } from '../../gateway/persistence/entities';

registerEnumType(ReplicationTargetKind, { name: 'ReplicationTargetKind', description: 'Where replicas are meant to live and be restored: a host, any host of a site or of a group, or only the artifact store.' });
registerEnumType(ReplicationKind, { name: 'ReplicationKind', description: 'EXTERNAL: made by the host from outside (the whole environment); INTERNAL: the output of a command run inside the environment.' });

registerEnumType(ReplicaVerifyState, { name: 'ReplicaVerifyState', description: 'What the last verify job found: OK (every chunk checks out, after repairs) or DAMAGED (damage no other store could repair).' });

registerEnumType(RestoreDrillState, { name: 'RestoreDrillState', description: 'How a restore drill ended: PASSED (every chunk checked out, restored into a scratch environment, it ran) or FAILED.' });

/** What a restore drill found. */
@ObjectType({ description: "What a restore drill found: the policy's newest replica restored into a scratch environment (destroyed afterwards), every chunk checked against the manifest, started." })
export class RestoreDrill {
  @Field({ description: 'When it ended.' })
  at: string;

  @Field(() => RestoreDrillState)
  state: RestoreDrillState;

  @Field(() => ID, { nullable: true })
  replicaId: string | null;

  @Field(() => ID, { nullable: true, description: 'The host the scratch environment ran on.' })
  hostId: string | null;

  @Field(() => String, { nullable: true, description: 'The scratch environment (destroyed once the drill ended).' })
  environmentName: string | null;

  @Field(() => Int, { description: 'Chunks of the replica read back and checked against its manifest.' })
  checkedChunks: number;

  @Field(() => Float)
  checkedBytes: number;

  @Field({ description: 'The scratch environment reached running.' })
  started: boolean;

  @Field(() => Int)
  durationMs: number;

  @Field(() => String, { nullable: true, description: 'Why it failed.' })
  message: string | null;
}

/** Distinct chunks of a run's copy into the store that keeps its replica. */
@ObjectType({ description: "Distinct chunks of a run's copy into the store that keeps the replica: reused (there and intact as far as the store knows), written (absent there), repaired (there but damaged: written again from the source)." })
export class ReplicaChunkCounts {
  @Field(() => Int)
  reusedChunks: number;

  @Field(() => Int)
  writtenChunks: number;

  @Field(() => Int)
  repairedChunks: number;
}

/** One thing a verify job found wrong with a replica. */
@ObjectType({ description: 'One thing a verify job found wrong with a replica: a chunk (null: the manifest), why, and whether it was repaired from another store.' })
export class ReplicaVerifyProblem {
  @Field(() => String, { nullable: true })
  chunk: string | null;

  @Field(() => Int, { nullable: true, description: "The chunk's first position in the replica." })
  index: number | null;

  @Field()
  reason: string;

  @Field()
  repaired: boolean;
}

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

  @Field(() => ReplicaChunkCounts, { nullable: true, description: "What the last successful run's copy reused, wrote and repaired in the target store." })
  lastChunkCounts: ReplicaChunkCounts | null;

  @Field(() => ReplicaVerifyState, { nullable: true, description: "What verify jobs found of the policy's replicas: DAMAGED when one of them is (damagedReplicaIds), OK when every one verified checks out; null: none verified yet." })
  verifyState: ReplicaVerifyState | null;

  @Field(() => Date, { nullable: true, description: "The latest verification of one of the policy's replicas." })
  lastVerifiedAt: Date | null;

  @Field(() => [ID], { description: "The policy's replicas a verify job left DAMAGED (their verifyProblems name the chunks)." })
  damagedReplicaIds: string[];
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

  @Field({ description: 'Each run takes a snapshot, exports from it and deletes it.' })
  snapshotBeforeCopy: boolean;

  @Field()
  enabled: boolean;

  @Field(() => String, { nullable: true, description: 'Restore drills of the newest replica on this schedule; null: none scheduled.' })
  drillSchedule: string | null;

  @Field(() => Date, { nullable: true, description: 'The next scheduled restore drill.' })
  nextDrillAt: Date | null;

  @Field(() => RestoreDrill, { nullable: true, description: 'What the last restore drill found; null before the first.' })
  lastDrill: RestoreDrill | null;

  @Field(() => ReplicationStatus)
  status: ReplicationStatus;

  @Field(() => ID, { nullable: true, description: 'SITE and GROUP targets: the host chosen to keep the replicas (chosen at the first run; again only when it is no longer usable).' })
  storeHostId: string | null;

  @Field(() => String, { nullable: true, description: "STORE of another site: that site's name (its replicas are kept and restored there); null: this site." })
  peerName: string | null;

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

  @Field(() => String, { nullable: true, description: 'Kept at another site (its policy replicates there): that site; restore it there.' })
  peerSite: string | null;

  @Field(() => ID, { nullable: true, description: 'Kept at another site: the id of the replica there.' })
  peerReplicaId: string | null;

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

  @Field(() => Date, { nullable: true, description: 'When every checksum was last verified (by a restore or a verify job).' })
  verifiedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When every checksum was last found (or made) intact: the same as verifiedAt.' })
  lastVerifiedAt: Date | null;

  @Field(() => ReplicaVerifyState, { nullable: true, description: 'What the last verify job found; null: never verified by one.' })
  verifyState: ReplicaVerifyState | null;

  @Field(() => [ReplicaVerifyProblem], { description: 'What the last verify job found wrong, repaired or not.' })
  verifyProblems: ReplicaVerifyProblem[];

  @Field(() => Int, { description: 'Distinct chunks the run that made it reused from the store (there and intact as far as it knew).' })
  reusedChunks: number;

  @Field(() => Int, { description: 'Distinct chunks the run that made it wrote to the store.' })
  writtenChunks: number;

  @Field(() => Int, { description: 'Distinct chunks the run that made it found damaged in the store and wrote again from the source.' })
  repairedChunks: number;
}
