import { DataSource, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { EnvironmentLifecycle, transientStatusFor } from '../environments';
import { ConflictError } from '../errors';
import type { Logger } from '../logging/logger';
import { EnvironmentEntity, EnvironmentStatus, HostEntity, HostState, MemberRole, OperationEntity } from '../persistence/entities';
import { chooseTargetHost } from '../placement/target-host';
import type { EnvironmentService } from './environment-service';
import type { ReplicaKeeper } from './failover-service';
import type { OperationService } from './operation-service';

/**
 * Migration (seed 004, "shuffle"): moves an environment to another host keeping its identity and
 * data. A replica is made into the target host's artifact store while it still runs (full the
 * first time, then only chunks that store lacks), then it is stopped, a final delta
 * is replicated, the replica is restored on the target with the same identity and started, and
 * the copy on the source is removed. The environment is MIGRATING from the request until it runs
 * (or is stopped) on the target. The downtime — stop to running on the target — is in the
 * operation's result. Any failure before the target runs puts the environment back as it was
 * on the source (started again if it ran).
 */
export class MigrationService {
  private readonly hosts: Repository<HostEntity>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly environments: EnvironmentService,
    private readonly replicas: ReplicaKeeper,
    private readonly logger: Logger,
    /** The one writer of environments' records, statuses and events. */
    private readonly lifecycle: EnvironmentLifecycle,
  ) {
    this.hosts = dataSource.getRepository(HostEntity);
  }

  /** Checks the move (members of the environment's group), chooses the target unless given, and runs it as an operation. */
  async migrate(actor: Principal, id: string, targetHostId?: string): Promise<OperationEntity> {
    const env = await this.environments.get(actor, id);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'migrate this environment');
    transientStatusFor('migrate', env.status, env.name); // CONFLICT before a target is chosen; the environment is claimed once it is
    const source = await this.hosts.findOneByOrFail({ id: env.hostId });
    if (source.state !== HostState.UP && source.state !== HostState.DRAINING) throw new ConflictError(`Host ${source.hostname} of environment ${env.name} is ${source.state}, not UP: a DOWN host's environments are failed over, not migrated`, { hostId: source.id, state: source.state });
    const from = await this.agents.forHost(source);
    const target = await chooseTargetHost(this.dataSource, this.agents, env, source, targetHostId);
    const wasRunning = env.status === EnvironmentStatus.RUNNING;
    const previous = await this.lifecycle.begin(env, 'migrate');

    return this.operations.start({ kind: 'environment.migrate', targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { host: source.hostname, driver: env.driver } }, async (op) => {
      const signal = op.signal;
      const oneOff: Array<{ id: string; manifestId: string }> = [];
      let stoppedAt: number | undefined;
      let moved = false;
      try {
        await op.progress(0.05, `replicating ${env.name} while it runs`);
        const first = await this.replicas.replicateEnvironment(env.id, { signal, storeHostId: target.id });
        oneOff.push(first);
        if (wasRunning) {
          await op.progress(0.4, 'stopping');
          stoppedAt = Date.now();
          await from.stopEnvironment({ driver: env.driver, environmentId: env.id, graceSeconds: 10 }, callContext(from, { signal, operationId: op.operationId }));
        }
        await op.progress(0.5, 'replicating the last changes');
        const last = await this.replicas.replicateEnvironment(env.id, { signal, storeHostId: target.id });
        oneOff.push(last);
        await op.progress(0.6, `restoring on ${target.hostname}`);
        const restoreStart = stoppedAt ?? Date.now();
        await this.replicas.restoreReplica(last.id, target.id, { sameIdentity: true, start: wasRunning, claimed: env, signal, onProgress: (f, m) => void op.progress(0.6 + 0.3 * f, m) });
        moved = true;
        const downtimeMs = Date.now() - restoreStart;
        await op.progress(0.95, `removing it from ${source.hostname}`);
        await from.destroyEnvironment({ driver: env.driver, environmentId: env.id }, callContext(from)).catch((e: unknown) => this.logger.warn({ err: e, environment: env.id, host: source.hostname }, 'migrated, but the copy on the source could not be removed'));
        await from.removeVolumes({ environmentId: env.id }).catch((e: unknown) => this.logger.warn({ err: e, environment: env.id }, 'migrated, but the source volumes could not be removed'));
        this.logger.info({ environment: env.id, from: source.hostname, to: target.hostname, downtimeMs }, 'environment migrated');
        return {
          environmentId: env.id,
          fromHostId: source.id,
          toHostId: target.id,
          downtimeMs: wasRunning ? downtimeMs : 0,
          firstBytes: first.bytes,
          firstNewBytes: first.newBytes,
          finalNewBytes: last.newBytes,
          firstMovedBytes: first.movedBytes,
          finalMovedBytes: last.movedBytes,
        };
      } catch (e) {
        if (!moved) {
          let back = previous;
          if (wasRunning && stoppedAt !== undefined) {
            this.logger.warn({ err: e, environment: env.id }, 'migration failed; starting the environment again on its source host');
            back = await from.startEnvironment({ driver: env.driver, environmentId: env.id }, callContext(from)).then(
              () => EnvironmentStatus.RUNNING,
              (err: unknown) => (this.logger.error({ err, environment: env.id }, 'could not start the environment again after a failed migration'), EnvironmentStatus.STOPPED),
            );
          }
          await this.lifecycle.end(env, { status: back }).catch((err: unknown) => this.logger.error({ err, environment: env.id }, 'could not put the environment back after a failed migration'));
        }
        throw e;
      } finally {
        await this.replicas.discardReplicas(oneOff).catch((e: unknown) => this.logger.warn({ err: e, environment: env.id }, 'could not discard the migration\'s one-off replicas'));
      }
    });
  }
}
