import { randomBytes } from 'node:crypto';
import { DataSource, Repository } from 'typeorm';
import { callContext } from '../agent/call-context';
import type { AgentLink } from '../agent/agent-link';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../logging/logger';
import type { AlertEvaluator } from '../metrics/alert-evaluator';
import {
  EnvironmentEntity,
  HostEntity,
  MemberRole,
  OperationEntity,
  ReplicaEntity,
  ReplicationKind,
  ReplicationPolicyEntity,
  RestoreDrillState,
  type RestoreDrillResult,
} from '../persistence/entities';
import type { OperationService } from '../services/operation-service';
import type { ReplicationPolicyService } from './policy-service';
import type { RestoreService } from './restore-service';
import { PeriodicTask } from '../scheduling/periodic-task';

/** The metric name of the alert a failed restore drill raises. */
export const RESTORE_DRILL_FAILED_METRIC = 'restoreDrillFailed';

/**
 * Restore drills: the newest replica of a policy is restored into a scratch environment (a new
 * one, claiming its capacity through placement like any restore), its every chunk read back and
 * checked against the manifest before the import (and again as the import streams it), started,
 * and its engine asked whether it runs; then the scratch environment is destroyed and what it
 * held released. The result is recorded on the policy (`lastDrill`); a failed drill raises an
 * alert on the policy's environment. Policies with a `drillSchedule` are drilled when due.
 */
export class RestoreDrills {
  private readonly policies: Repository<ReplicationPolicyEntity>;
  private readonly replicaRepo: Repository<ReplicaEntity>;
  private schedule: PeriodicTask | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly policyService: ReplicationPolicyService,
    private readonly restores: RestoreService,
    private readonly logger: Logger,
    /** Where a failed drill raises its alert. */
    private readonly alerts?: Pick<AlertEvaluator, 'raise'>,
  ) {
    this.policies = dataSource.getRepository(ReplicationPolicyEntity);
    this.replicaRepo = dataSource.getRepository(ReplicaEntity);
  }

  /** Drills the policy now as an operation (members of its group); the result is a `RestoreDrillResult`, also kept as the policy's `lastDrill`. */
  async drillNow(actor: Principal, policyId: string): Promise<OperationEntity> {
    const found = await this.policyService.policy(actor, policyId);
    policy.requireRole(actor, found.groupId, MemberRole.MEMBER, 'drill restores of this environment');
    if (found.kind !== ReplicationKind.EXTERNAL) throw new BadInputError('Restore drills need an EXTERNAL policy: an INTERNAL replica is restored into its running environment, not into a scratch one', { policyId });
    return this.operations.start({ kind: 'replication.drill', targetType: 'ReplicationPolicy', targetId: found.id, groupId: found.groupId }, async (op) => {
      const result = await this.drill(found.id, { signal: op.signal, onProgress: (f, m) => void op.progress(f, m) });
      return { ...result };
    });
  }

  /**
   * System level: drills the policy's newest replica and records the result on the policy. A
   * drill that fails is a result (FAILED with the reason), not an error; NOT_FOUND when the
   * policy is gone.
   */
  async drill(policyId: string, options: { signal?: AbortSignal; onProgress?(fraction: number, message: string): void } = {}): Promise<RestoreDrillResult> {
    const pol = await this.policies.findOneBy({ id: policyId });
    if (!pol) throw new NotFoundError('ReplicationPolicy', policyId);
    const started = Date.now();
    const result: RestoreDrillResult = { at: '', state: RestoreDrillState.FAILED, replicaId: null, hostId: null, environmentName: null, checkedChunks: 0, checkedBytes: 0, started: false, durationMs: 0, message: null };
    let scratch: EnvironmentEntity | undefined;
    try {
      const replica = await this.replicaRepo.findOne({ where: { policyId: pol.id, kind: ReplicationKind.EXTERNAL }, order: { createdAt: 'DESC', id: 'DESC' } });
      if (!replica) throw new ConflictError('the policy has no replica yet', { policyId: pol.id });
      result.replicaId = replica.id;
      const host = await this.restores.defaultRestoreHost(replica);
      if (!host) throw new ConflictError(`no host of the policy's target (${replica.targetKind}) nor the original host is UP`, { replicaId: replica.id });
      result.hostId = host.id;
      result.environmentName = scratchName(replica);
      scratch = await this.restores.restoreReplica(replica.id, host.id, {
        sameIdentity: false,
        start: true,
        name: result.environmentName,
        signal: options.signal,
        onProgress: (f, m) => options.onProgress?.(0.9 * f, m),
        onVerified: (report) => {
          result.checkedChunks = report.chunks;
          result.checkedBytes = report.bytes;
        },
      });
      options.onProgress?.(0.9, `asking ${host.hostname} whether ${scratch.name} runs`);
      const agent = await this.agents.forHost(await this.dataSource.getRepository(HostEntity).findOneByOrFail({ id: host.id }));
      const info = await agent.inspectEnvironment({ driver: scratch.driver, environmentId: scratch.id }, callContext(agent, { signal: options.signal }));
      result.started = info.state === 'running';
      if (!result.started) throw new ConflictError(`the restored environment is ${info.state} after its start, not running`, { environmentId: scratch.id, state: info.state });
      result.state = RestoreDrillState.PASSED;
    } catch (e) {
      result.message = e instanceof Error ? e.message : String(e);
    } finally {
      if (scratch) {
        await this.restores.discardRestored(scratch).catch((e: unknown) => {
          this.logger.error({ err: e, environment: scratch!.id }, 'could not remove the scratch environment of a restore drill');
          result.state = RestoreDrillState.FAILED;
          result.message ??= `the scratch environment ${scratch!.name} could not be removed: ${e instanceof Error ? e.message : String(e)}`;
        });
      }
    }
    result.durationMs = Date.now() - started;
    result.at = new Date().toISOString();
    await this.policies.update({ id: pol.id }, { lastDrill: result });
    if (result.state === RestoreDrillState.FAILED) await this.raise(pol, result);
    else this.logger.info({ policy: pol.id, replica: result.replicaId, durationMs: result.durationMs }, 'restore drill passed');
    return result;
  }

  /** Drills every enabled policy whose drill is due, one after the other (each due slot is taken by one gateway only). */
  async runDue(now = new Date()): Promise<RestoreDrillResult[]> {
    const due = await this.policies.createQueryBuilder('p').where('p.enabled = true AND p."nextDrillAt" <= :now', { now }).orderBy('p."nextDrillAt"', 'ASC').getMany();
    const out: RestoreDrillResult[] = [];
    for (const p of due) {
      const next = this.policyService.nextDrill(p, now);
      const taken = await this.policies.createQueryBuilder().update(ReplicationPolicyEntity).set({ nextDrillAt: next }).where('id = :id AND "nextDrillAt" = :was', { id: p.id, was: p.nextDrillAt }).execute();
      if (!taken.affected) continue;
      try {
        out.push(await this.drill(p.id));
      } catch (e) {
        this.logger.warn({ err: e, policy: p.id }, 'could not drill a due restore');
      }
    }
    return out;
  }

  /** Starts drilling due policies every `intervalMs` (0: off). */
  start(intervalMs: number): void {
    this.schedule ??= new PeriodicTask('restore drill scheduler tick', () => this.runDue(), this.logger);
    this.schedule.start(intervalMs);
  }

  /** Stops the timer and waits for a drill in progress. */
  async stop(): Promise<void> {
    await this.schedule?.stop();
  }

  /** Raises the alert of a failed drill on the policy's environment. */
  private async raise(pol: ReplicationPolicyEntity, result: RestoreDrillResult): Promise<void> {
    const message = `Restore drill of policy ${pol.name} (${pol.id}) FAILED${result.replicaId ? ` on replica ${result.replicaId}` : ''}: ${result.message}`;
    this.logger.error({ policy: pol.id, replica: result.replicaId }, message);
    await this.alerts?.raise({ ruleId: null, groupId: pol.groupId, siteId: null, targetType: 'ENVIRONMENT', targetId: pol.environmentId, metric: RESTORE_DRILL_FAILED_METRIC, value: 1, threshold: 0, message });
  }
}

/** The scratch environment's name: the source's, `-drill-`, the time (UTC, to the second) and a random tail. */
function scratchName(replica: ReplicaEntity): string {
  return `${replica.source.name.slice(0, 40)}-drill-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(2).toString('hex')}`;
}
