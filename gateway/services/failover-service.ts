import { DataSource, In, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { EnvironmentLifecycle, TRANSITIONS } from '../environments';
import { ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import { EnvironmentEntity, EnvironmentStatus, HostEntity, HostState, MemberRole, OperationEntity } from '../persistence/entities';
import { chooseTargetHost } from '../placement/target-host';
import type { FailoverHooks } from './host-health-service';
import type { OperationService } from './operation-service';

/** The metric name of the alert a failed-over environment raises. */
export const FAILOVER_METRIC = 'failoverSeconds';

/** What failover and migration need of replication (the replication service has it). */
export interface ReplicaKeeper {
  /** Policies of the environment with automatic failover on. */
  autoFailoverPolicies(environmentId: string): Promise<Array<{ id: string }>>;
  /** The newest replica holding the whole environment that can be read now (not on a DOWN host), or null. */
  newestReplica(environmentId: string): Promise<{ id: string; createdAt: Date } | null>;
  /** Replicates the environment now (with a policy's settings, else a one-off copy to the store). */
  replicateEnvironment(environmentId: string, options?: { policyId?: string; storeHostId?: string; signal?: AbortSignal }): Promise<{ id: string; manifestId: string; bytes: number; newBytes: number; movedBytes: number; createdAt: Date }>;
  /** Verifies the replica, then restores it on the host (same identity: the record moves there), optionally started. */
  restoreReplica(replicaId: string, targetHostId: string, options: { sameIdentity: boolean; start: boolean; claimed?: EnvironmentEntity; signal?: AbortSignal; onProgress?(fraction: number, message: string): void }): Promise<EnvironmentEntity>;
  /** Deletes one-off replicas (and what only they held in the stores they live in). */
  discardReplicas(replicas: Array<{ id: string; manifestId: string }>): Promise<void>;
}

/** Statuses of environments a failover brings back (the others are gone or were never made). */
const RECOVERABLE: EnvironmentStatus[] = [...TRANSITIONS.failover.from];

/**
 * Failover: when the failure detector marks a host DOWN, every environment on it whose
 * replication policy has `autoFailover` is restored from its newest reachable replica (kept in the
 * gateway's store or on another UP host, never on the lost one) on another eligible
 * host (same identity), started if it was running, and its record moves there — one operation
 * each, with an alert; the environment is FAILING_OVER meanwhile (a failure puts it back). Site
 * admins may also fail one environment over by hand. The host stays fenced until these
 * operations end; its agent's stale copies are removed by the split-brain guard when it returns.
 */
export class FailoverService implements FailoverHooks {
  private readonly envs: Repository<EnvironmentEntity>;
  private readonly hosts: Repository<HostEntity>;
  /** Failover operations running in this gateway, by source host. */
  private readonly running = new Map<string, Set<Promise<unknown>>>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly replicas: ReplicaKeeper,
    private readonly alerts: AlertEvaluator,
    private readonly logger: Logger,
    /** The one writer of environments' records, statuses and events. */
    private readonly lifecycle: EnvironmentLifecycle,
  ) {
    this.envs = dataSource.getRepository(EnvironmentEntity);
    this.hosts = dataSource.getRepository(HostEntity);
  }

  /**
   * Starts a failover operation for every environment of the DOWN host that has auto-failover and a
   * replica; each one's `failoverMs` counts from `declaredAt` (when the DOWN mark was written).
   */
  async hostDown(host: HostEntity, declaredAt = Date.now()): Promise<void> {
    const envs = await this.envs.findBy({ hostId: host.id, status: In(RECOVERABLE) });
    for (const env of envs) {
      if (!(await this.replicas.autoFailoverPolicies(env.id)).length) continue;
      try {
        await this.start(env, host, declaredAt);
      } catch (e) {
        this.logger.error({ err: e, environment: env.id, host: host.hostname }, 'could not start the failover of an environment');
      }
    }
  }

  /** True while failover operations of environments that were on the host run here. */
  async inProgress(hostId: string): Promise<boolean> {
    return (this.running.get(hostId)?.size ?? 0) > 0;
  }

  /**
   * Starts again an environment its agent self-fenced and that was not failed over (it is still
   * on the agent's host, UP again, and meant to run): one `environment.resume` operation.
   */
  async resumeFenced(env: EnvironmentEntity, host: HostEntity): Promise<void> {
    await this.operations.start({ kind: 'environment.resume', targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { host: host.hostname, driver: env.driver } }, async (op) => {
      const agent = await this.agents.forHost(host);
      await op.progress(0.1, `starting the environment its agent self-fenced on ${host.hostname}`);
      await agent.startEnvironment({ driver: env.driver, environmentId: env.id }, callContext(agent, { signal: op.signal }));
      this.logger.warn({ environment: env.id, host: host.hostname }, 'a self-fenced environment that was not failed over runs again on its host');
      return { environmentId: env.id, hostId: host.id };
    });
  }

  /** Site admins fail an environment of a DOWN host over by hand (to `targetHostId`, or where the scheduler says). */
  async failoverEnvironment(actor: Principal, id: string, targetHostId?: string): Promise<OperationEntity> {
    policy.requireSiteAdmin(actor, 'fail environments over');
    const env = await this.envs.findOneBy({ id });
    if (!env) throw new NotFoundError('Environment', id);
    const host = await this.hosts.findOneByOrFail({ id: env.hostId });
    if (host.state !== HostState.DOWN) throw new ConflictError(`Host ${host.hostname} of environment ${env.name} is ${host.state}: failover is for environments of DOWN hosts (migrate it instead)`, { hostId: host.id, state: host.state });
    if (!RECOVERABLE.includes(env.status)) throw new ConflictError(`Environment ${env.name} is ${env.status}: nothing to fail over`, { status: env.status });
    return this.start(env, host, Date.now(), targetHostId);
  }

  /** Checks there is a replica, then runs the failover of one environment as an operation. */
  private async start(env: EnvironmentEntity, source: HostEntity, declaredAt: number, targetHostId?: string): Promise<OperationEntity> {
    const replica = await this.replicas.newestReplica(env.id);
    if (!replica) {
      await this.raise(env, source, 0, `Environment ${env.name} was on host ${source.hostname}, which is DOWN, and has no reachable replica to fail over from (none in the gateway's store or on an UP host)`);
      throw new ConflictError(`Environment ${env.name} has no reachable replica to fail over from (none in the gateway's store or on an UP host)`, { environmentId: env.id });
    }
    const wasRunning = env.status === EnvironmentStatus.RUNNING || env.status === EnvironmentStatus.STARTING;
    const previous = await this.lifecycle.begin(env, 'failover');
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const set = this.running.get(source.id) ?? new Set();
    set.add(done);
    this.running.set(source.id, set);
    try {
      const operation = await this.operations.start({ kind: 'environment.failover', targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { host: source.hostname, driver: env.driver } }, async (op) => {
        try {
          await op.progress(0.05, 'choosing a host');
          // Failover restarts work that exists: a usage policy the group is over does not refuse it.
          const target = await chooseTargetHost(this.dataSource, this.agents, env, source, targetHostId, { keepsWork: true });
          await op.progress(0.1, `restoring replica ${replica.id} on ${target.hostname}`);
          await this.replicas.restoreReplica(replica.id, target.id, { sameIdentity: true, start: wasRunning, claimed: env, signal: op.signal, onProgress: (f, m) => void op.progress(0.1 + 0.85 * f, m) });
          const failoverMs = Date.now() - declaredAt;
          await this.raise(env, source, failoverMs / 1000, `Environment ${env.name} failed over from DOWN host ${source.hostname} to ${target.hostname} in ${(failoverMs / 1000).toFixed(1)} s, from the replica of ${replica.createdAt.toISOString()} (changes since are lost)`);
          this.logger.warn({ environment: env.id, from: source.hostname, to: target.hostname, failoverMs }, 'environment failed over');
          return { environmentId: env.id, fromHostId: source.id, toHostId: target.id, replicaId: replica.id, replicaCreatedAt: replica.createdAt.toISOString(), started: wasRunning, failoverMs };
        } catch (e) {
          if (env.status === EnvironmentStatus.FAILING_OVER) await this.lifecycle.end(env, { status: previous }).catch((err: unknown) => this.logger.error({ err, environment: env.id }, 'could not put the environment back after a failed failover'));
          await this.raise(env, source, (Date.now() - declaredAt) / 1000, `Failover of environment ${env.name} from DOWN host ${source.hostname} failed: ${(e as Error).message}`).catch(() => undefined);
          throw e;
        } finally {
          finished();
        }
      });
      return operation;
    } catch (e) {
      finished();
      throw e;
    } finally {
      void done.then(() => {
        set.delete(done);
        if (!set.size) this.running.delete(source.id);
      });
    }
  }

  private async raise(env: EnvironmentEntity, source: HostEntity, seconds: number, message: string): Promise<void> {
    await this.alerts.raise({ ruleId: null, groupId: env.groupId, siteId: source.siteId, targetType: 'ENVIRONMENT', targetId: env.id, metric: FAILOVER_METRIC, value: seconds, threshold: 0, message });
  }
}
