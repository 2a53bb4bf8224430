import { setTimeout as sleep } from 'node:timers/promises';
import { callContext } from '../agent/call-context';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { ConflictError, RspError, type ErrorCategory } from '../errors';
import { EnvironmentStatus, MemberRole, OperationEntity, ReplicationKind } from '../persistence/entities';
import { sourceOf } from '../replication/replication-runs';
import type { EnvironmentService } from '../services/environment-service';
import type { PeerRequest } from './known-peers';
import type { PeerClient } from './peer-site';
import { sendReplicaToPeer, startPeerSending, type PeerSendingDeps } from './replica-sender';

/** Statuses an environment is copied in; a move needs it at rest. */
const COPYABLE = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING];
const MOVABLE = [EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED];
/** How often the other site's restore is asked about while it runs. */
const POLL_MS = 500;

/** Where and how an environment goes to another site. */
export interface TransferRequest {
  to: PeerRequest;
  /** The host at the other site (its id there). */
  hostId: string;
  /** The new environment's name there; default the same. */
  name?: string | null;
  /** Migrate: the environment here is destroyed once it is restored there. */
  move?: boolean | null;
}

/** A peer's operation as its API answers it. */
interface PeerOperation {
  state: string;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

/**
 * Copies (or migrates) an environment to another site, built on the pieces of replicas kept at
 * another site: exported here, only the chunks the other site's store lacks sent there (its bytes
 * claimed first from the group's quota there, its image checked by digest), recorded there as a
 * replica of the group its token is of, then restored there on the host named, through that
 * site's own `restoreReplica` — so each site's authorization decides its part. A move destroys the
 * environment here only after the restore there succeeded.
 */
export class EnvironmentTransfer {
  constructor(
    private readonly deps: PeerSendingDeps,
    private readonly environments: EnvironmentService,
  ) {}

  /**
   * Starts the copy (or move) as an operation whose result names the environment at the other site
   * (`environmentId`), its replica there (`peerReplicaId`) and the bytes moved. CONFLICT for an
   * environment not at rest for a move or in no copyable status, or whose image has no digest;
   * FORBIDDEN for a site that is not a known peer, before any request.
   */
  async transfer(actor: Principal, environmentId: string, request: TransferRequest): Promise<OperationEntity> {
    const env = await this.environments.get(actor, environmentId);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'copy or move environments of this group to another site');
    const move = request.move ?? false;
    if (!(move ? MOVABLE : COPYABLE).includes(env.status)) throw new ConflictError(move ? `Environment ${env.name} is ${env.status}: stop it before moving it to another site` : `Cannot copy environment ${env.name}: it is ${env.status}`, { status: env.status });
    const { operations, stores, logger } = this.deps;
    const spec = { kind: move ? 'environment.move-to-site' : 'environment.copy-to-site', targetType: 'Environment', targetId: env.id, groupId: env.groupId, imageId: env.imageId, what: `environment ${env.name}`, details: { environmentId }, to: request.to };
    return startPeerSending(this.deps, spec, async (op, { client, site, imageDigest }) => {
      const agent = await stores.agentOf(env.hostId);
      const { manifestId, ...stats } = await agent.exportEnvironment({ driver: env.driver, environmentId: env.id, labels: { environment: env.id, group: env.groupId, kind: ReplicationKind.EXTERNAL } }, callContext(agent, { signal: op.signal }));
      await op.progress(0.3, 'exported');
      const staging = await stores.storeOf(env.hostId, op.signal);
      let sent: Awaited<ReturnType<typeof sendReplicaToPeer>>;
      try {
        sent = await sendReplicaToPeer(staging, client, { manifestId, bytes: stats.bytes, chunks: stats.chunks, environmentId: env.id, source: sourceOf(env, null), imageDigest }, { signal: op.signal });
      } finally {
        await stores.dropUnused(env.hostId, staging, manifestId).catch((err: unknown) => logger.warn({ err, manifestId }, 'could not drop the export of a copy to another site from its staging store'));
      }
      await op.progress(0.6, `sent to site ${site}`);
      const { restoreReplica } = await client.graphql<{ restoreReplica: { id: string } }>('mutation ($r: ID!, $h: ID!, $n: String) { restoreReplica(replicaId: $r, hostId: $h, name: $n) { id } }', { r: sent.id, h: request.hostId, n: request.name ?? env.name });
      const restored = await this.until(client, restoreReplica.id, op.signal);
      if (restored.state !== 'SUCCEEDED') {
        const known = restored.error?.code as ErrorCategory | undefined;
        throw new RspError(known && known !== ('INTERNAL' as ErrorCategory) ? known : 'UNAVAILABLE', `Site ${site}: the restore ${restored.state}: ${restored.error?.message ?? 'no reason given'}`, { peer: site, operationId: restoreReplica.id });
      }
      const there = String(restored.result?.environmentId ?? '');
      if (move) {
        await op.progress(0.9, `restored at site ${site}; destroying here`);
        const destroyed = await operations.settled((await this.environments.act(actor, env.id, 'destroy')).id);
        if (destroyed.state !== 'SUCCEEDED') throw new ConflictError(`Environment ${env.name} was restored at site ${site} (environment ${there}) but not destroyed here: ${destroyed.errorMessage ?? destroyed.state}`, { peer: site, environmentId: there });
      }
      logger.info({ environment: env.id, site, there, movedBytes: sent.copied.stats.newBytes, move }, move ? 'moved an environment to another site' : 'copied an environment to another site');
      return { site, environmentId: there, peerReplicaId: sent.id, bytes: stats.bytes, movedBytes: sent.copied.stats.newBytes, moved: move };
    });
  }

  /** The other site's operation once it ended (asked every POLL_MS). */
  private async until(client: PeerClient, id: string, signal: AbortSignal): Promise<PeerOperation> {
    for (;;) {
      const { operation } = await client.graphql<{ operation: PeerOperation }>('query ($id: ID!) { operation(id: $id) { state result error { code message } } }', { id });
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(operation.state)) return operation;
      await sleep(POLL_MS, undefined, { signal });
    }
  }
}
