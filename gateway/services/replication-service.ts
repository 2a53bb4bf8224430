import type { DataSource } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { EnvironmentLifecycle } from '../environments';
import type { RspPubSub } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import type { EnvironmentEntity, ReplicaEntity, ReplicationPolicyEntity } from '../persistence/entities';
import { Peering } from '../peering/peering';
import { ReplicaSending } from '../peering/replica-sending';
import type { GroupKeys } from '../replication/group-keys';
import { ReplicationPolicyService } from '../replication/policy-service';
import { ReplicaRecords } from '../replication/replica-records';
import { ReplicaVerifier } from '../replication/replica-verifier';
import { ReplicaStores } from '../replication/replica-stores';
import { ReplicationRuns, type ReplicateOptions } from '../replication/replication-runs';
import { RestoreDrills } from '../replication/restore-drills';
import { RestoreService, type RestoreOptions } from '../replication/restore-service';
import { StoreCollector } from '../replication/store-collector';
import { DEFAULT_REPLICATION_SETTINGS, type ReplicationSettings } from '../replication/settings';
import type { StorageQuotas } from '../storage-quotas/storage-quotas';
import type { ReplicaKeeper } from './failover-service';
import type { LayerService } from './layer-service';
import type { OperationService } from './operation-service';
import type { PlacementService } from './placement-service';
import type { SnapshotService } from '../snapshots/snapshot-service';

/**
 * Replication (seeds 000, 001, 004), built from its parts: policies attached to layers
 * (`policies`), replica records and their verification (`replicas`), runs on a schedule with
 * retries (`runs`), restore (`restores`) and restore drills (`drills`). It is also what failover and migration need of
 * replication (`ReplicaKeeper`), which spans the parts.
 */
export class ReplicationService implements ReplicaKeeper {
  /** Policy CRUD and the checks of its fields. */
  readonly policies: ReplicationPolicyService;
  /** Replicas: queries, verification, deletion. */
  readonly replicas: ReplicaRecords;
  /** Runs, the scheduler and pruning. */
  readonly runs: ReplicationRuns;
  /** Restore of replicas as environments or into their environment. */
  readonly restores: RestoreService;
  /** Verify jobs: re-hash, repair, record, alert. */
  readonly verifier: ReplicaVerifier;
  /** Restore drills: the newest replica restored into a scratch environment, started, recorded. */
  readonly drills: RestoreDrills;
  /** Garbage collection of a replica store on request. */
  readonly collector: StoreCollector;
  /** Replicas sent on to another site, to be restored there. */
  readonly sending: ReplicaSending;
  /** Where replicas live: host agents' stores and the gateway's. */
  readonly stores: ReplicaStores;

  constructor(
    dataSource: DataSource,
    agents: AgentLink,
    operations: OperationService,
    layers: LayerService,
    /** The gateway's store (RSP_ARTIFACT_DIR): where STORE-target and one-off replicas live. */
    readonly store: ArtifactStore,
    keys: GroupKeys,
    logger: Logger,
    pubSub: RspPubSub,
    /** The one writer of environments' records, statuses and events. */
    lifecycle: EnvironmentLifecycle,
    /** Where restored environments and stored replicas claim their capacity. */
    placement: PlacementService | undefined,
    /** The groups' storage quotas, which replicas copied into the gateway's store are reserved against. */
    quotas: StorageQuotas,
    readonly settings: ReplicationSettings = DEFAULT_REPLICATION_SETTINGS,
    /** Where a verify job that finds damage raises its alert. */
    alerts?: Pick<AlertEvaluator, 'raise'>,
    /** Where `snapshotBeforeCopy` runs take their snapshot. */
    snapshots?: SnapshotService,
    /** The other sites replicas may go to, and how their tokens are kept. */
    peering: Peering = Peering.none(),
  ) {
    const stores = new ReplicaStores(dataSource, agents, store, logger);
    this.stores = stores;
    this.replicas = new ReplicaRecords(dataSource, stores, keys, logger, placement, peering);
    this.policies = new ReplicationPolicyService(dataSource, layers, this.replicas, settings, (hostId) => stores.agentOf(hostId), peering, pubSub);
    this.runs = new ReplicationRuns(dataSource, operations, stores, keys, logger, pubSub, this.policies, this.replicas, settings, quotas, placement, snapshots ? { lifecycle, snapshots } : undefined, peering);
    this.verifier = new ReplicaVerifier(dataSource, operations, stores, keys, this.replicas, logger, settings, alerts);
    this.restores = new RestoreService(dataSource, agents, operations, stores, keys, logger, lifecycle, this.replicas, placement);
    this.collector = new StoreCollector(dataSource, operations, stores, logger);
    this.sending = new ReplicaSending({ dataSource, operations, stores, peering, logger }, this.replicas);
    this.drills = new RestoreDrills(dataSource, agents, operations, this.policies, this.restores, logger, alerts);
  }

  /** Policies of the environment with automatic failover on (see `ReplicationPolicyService`). */
  autoFailoverPolicies(environmentId: string): Promise<ReplicationPolicyEntity[]> {
    return this.policies.autoFailoverPolicies(environmentId);
  }

  /** The newest replica of the environment that can be read now, or null (see `ReplicaRecords`). */
  newestReplica(environmentId: string): Promise<ReplicaEntity | null> {
    return this.replicas.newestReplica(environmentId);
  }

  /** Replicates the environment now (see `ReplicationRuns`). */
  replicateEnvironment(environmentId: string, options?: ReplicateOptions): Promise<ReplicaEntity> {
    return this.runs.replicateEnvironment(environmentId, options);
  }

  /** Verifies the replica, then restores it on the host (see `RestoreService`). */
  restoreReplica(replicaId: string, targetHostId: string, options: RestoreOptions): Promise<EnvironmentEntity> {
    return this.restores.restoreReplica(replicaId, targetHostId, options);
  }

  /** Deletes replicas and what only they held in their stores (see `ReplicaRecords`). */
  discardReplicas(replicas: Array<Pick<ReplicaEntity, 'id' | 'manifestId'>>): Promise<void> {
    return this.replicas.discardReplicas(replicas);
  }
}
