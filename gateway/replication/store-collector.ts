import type { DataSource } from 'typeorm';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import type { Logger } from '../logging/logger';
import type { OperationEntity } from '../persistence/entities';
import { GATEWAY_STORE_TARGET_ID, type OperationService } from '../services/operation-service';
import type { ReplicaStores } from './replica-stores';

/** What a collection of a store freed. */
export interface StoreCollection {
  /** The host whose agent's store was collected; null: the gateway's store. */
  storeHostId: string | null;
  removedChunks: number;
  freedBytes: number;
}

/**
 * Garbage collection of a replica store on request: mark and sweep of the chunks no manifest
 * references. Chunks that a run in progress is writing or copying into the store are held from
 * collection until its manifest names them (the store's chunk guard and transfer leases), so a
 * collection during a run loses nothing the run needs. Replicas claim their bytes per replica and
 * release them when deleted; a collection frees the chunks that deletions left unreferenced.
 */
export class StoreCollector {
  private readonly owners: HostOwners;

  constructor(
    dataSource: DataSource,
    private readonly operations: OperationService,
    /** Where replicas live: host agents' stores and the gateway's. */
    private readonly stores: ReplicaStores,
    private readonly logger: Logger,
  ) {
    this.owners = new HostOwners(dataSource);
  }

  /**
   * Collects a store as an operation: a host's (ADMINs of the group governing it) or, with no
   * host, the gateway's (site admins). The result is a `StoreCollection`.
   */
  async collectNow(actor: Principal, hostId: string | null): Promise<OperationEntity> {
    if (hostId) await this.owners.requireGovernsHost(actor, hostId, "collect this host's replica store");
    else policy.requireSiteAdmin(actor, "collect the gateway's replica store");
    const actorGroupId = actor.kind === 'token' ? actor.groupId : null;
    return this.operations.start({ kind: 'replica.gc', targetType: hostId ? 'Host' : 'ArtifactStore', targetId: hostId ?? GATEWAY_STORE_TARGET_ID, actorGroupId }, async (op) => {
      await op.progress(0.05, 'marking the chunks every manifest references, then sweeping the rest');
      return { ...(await this.collect(hostId, op.signal)) };
    });
  }

  /** System level: collects a store now and returns what it freed. */
  async collect(hostId: string | null, signal?: AbortSignal): Promise<StoreCollection> {
    const store = await this.stores.storeOf(hostId, signal);
    const { removedChunks, freedBytes } = await store.gc();
    this.logger.info({ storeHostId: hostId, removedChunks, freedBytes }, 'replica store collected');
    return { storeHostId: hostId, removedChunks, freedBytes };
  }
}
