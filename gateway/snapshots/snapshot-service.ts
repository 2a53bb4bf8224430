import type { DataSource } from 'typeorm';
import { assertSnapshotName } from '../../drivers/errors';
import type { AgentLink } from '../agent/agent-link';
import { callContext, type CallContextOptions } from '../agent/call-context';
import type { HostAgent } from '../agent/host-agent';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import type { Logger } from '../logging/logger';
import { EnvironmentEntity, EnvironmentSnapshotEntity, EnvironmentStatus, HostEntity, MemberRole, type OperationEntity } from '../persistence/entities';
import type { EnvironmentLifecycle } from '../environments';
import type { EnvironmentService } from '../services/environment-service';
import type { OperationControl, OperationService } from '../services/operation-service';
import type { PlacementService } from '../services/placement-service';

/** Statuses in which an environment's snapshots may be taken, rolled back to or deleted. */
const SETTLED: ReadonlySet<EnvironmentStatus> = new Set([EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING]);

/** The most snapshots a retention may keep per environment. */
export const MAX_SNAPSHOT_KEEP_LAST = 1000;

/**
 * Environments' snapshots: taken, rolled back to and deleted on the environment's host by its
 * driver (through the host agent), each as an Operation, and recorded here. A snapshot holds host
 * disk: when the environment has a disk limit, each snapshot claims that much DISK on its host
 * against the group's share (an implicit allocation, released with the snapshot). After each
 * snapshot the environment's retention (`snapshotKeepLast`) deletes the oldest beyond it.
 */
export class SnapshotService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly environments: EnvironmentService,
    /** The one writer of environments' statuses: holds the environment while a snapshot step runs. */
    private readonly lifecycle: EnvironmentLifecycle,
    private readonly logger: Logger,
    private readonly placement?: PlacementService,
  ) {}

  /** The environment's recorded snapshots, oldest first (whoever may see the environment). */
  async list(actor: Principal, environmentId: string): Promise<EnvironmentSnapshotEntity[]> {
    return this.seenBy(actor, await this.environments.get(actor, environmentId));
  }

  /**
   * The recorded snapshots of an environment the caller was already allowed to see, oldest first:
   * the admins governing its host (who see a guest) get who took each as only its group, not the
   * name of the token (private to the group, as an allocation request's `requestedBy`).
   */
  async seenBy(actor: Principal, env: Pick<EnvironmentEntity, 'id' | 'groupId'>): Promise<EnvironmentSnapshotEntity[]> {
    const all = await this.recorded(env.id);
    if (policy.isMember(actor, env.groupId)) return all;
    return all.map((s) => Object.assign(new EnvironmentSnapshotEntity(), s, { createdBy: `a token of group ${env.groupId}` }));
  }

  /** The recorded snapshots of an environment the caller was already allowed to see, oldest first. */
  recorded(environmentId: string): Promise<EnvironmentSnapshotEntity[]> {
    return this.dataSource.getRepository(EnvironmentSnapshotEntity).find({ where: { environmentId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /**
   * Takes a snapshot named `name` (members of its group), as an operation holding the
   * environment (SNAPSHOTTING: a start, stop or destroy meanwhile is CONFLICT, and so is a
   * snapshot while one of those runs): recorded (and its disk claimed) first — CONFLICT for a name
   * taken, FORBIDDEN/CONFLICT when the disk does not fit — then taken by the driver
   * (UNSUPPORTED_OPERATION without snapshots: the record goes again), then the retention applied.
   */
  async create(actor: Principal, environmentId: string, name: string): Promise<OperationEntity> {
    const env = await this.settled(actor, environmentId, 'take snapshots of this environment');
    assertSnapshotName(name);
    const taken = policy.requireAuthenticated(actor).name;
    return this.holding(env, 'environment.snapshot', async () => this.record(env, name, taken), async (op, agent, record) => {
      const options = { signal: op.signal, operationId: op.operationId };
      try {
        await agent.snapshotEnvironment({ driver: env.driver, environmentId: env.id, name }, callContext(agent, options));
      } catch (e) {
        await this.forget(record);
        throw e;
      }
      await op.progress(0.8, 'applying the retention');
      const removed = await this.applyRetention(env.id, agent, options);
      return { environmentId: env.id, snapshot: name, removed };
    });
  }

  /** Brings the environment back to a recorded snapshot (members of its group), as an operation holding the environment; the snapshot stays. */
  async rollback(actor: Principal, environmentId: string, name: string): Promise<OperationEntity> {
    const env = await this.settled(actor, environmentId, 'roll this environment back');
    const snapshot = await this.find(env.id, name);
    return this.holding(env, 'environment.rollback', async () => snapshot, async (op, agent) => {
      await agent.rollbackSnapshot({ driver: env.driver, environmentId: env.id, name: snapshot.name }, callContext(agent, { signal: op.signal, operationId: op.operationId }));
      return { environmentId: env.id, snapshot: snapshot.name };
    });
  }

  /** Deletes a recorded snapshot (members of its group), as an operation holding the environment: on the driver, then its record and its disk claim. */
  async delete(actor: Principal, environmentId: string, name: string): Promise<OperationEntity> {
    const env = await this.settled(actor, environmentId, 'delete snapshots of this environment');
    const snapshot = await this.find(env.id, name);
    return this.holding(env, 'environment.snapshot-delete', async () => snapshot, async (op, agent) => {
      await this.remove(env.id, snapshot, agent, { signal: op.signal, operationId: op.operationId });
      return { environmentId: env.id, snapshot: snapshot.name };
    });
  }

  /**
   * Moves the environment into SNAPSHOTTING (CONFLICT when another step holds it or it changed
   * since it was read), runs `prepare` (throwing puts it back at once), then `work` as an
   * operation, and puts the environment back in the status it was in however `work` ends.
   */
  private async holding<T>(
    env: EnvironmentEntity,
    kind: string,
    prepare: () => Promise<T>,
    work: (op: OperationControl, agent: HostAgent, prepared: T) => Promise<Record<string, unknown>>,
  ): Promise<OperationEntity> {
    const from = await this.lifecycle.begin(env, 'snapshot');
    // The operation's error says what failed; the environment itself is as it was.
    const back = () => this.lifecycle.end(env, { status: from });
    let prepared: T;
    try {
      prepared = await prepare();
    } catch (e) {
      await back();
      throw e;
    }
    try {
      return await this.operations.start({ kind, targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { hostId: env.hostId, driver: env.driver } }, async (op) => {
        try {
          return await work(op, await this.agentOf(env), prepared);
        } finally {
          await back().catch((err: unknown) => this.logger.error({ err, environment: env.id }, 'could not put the environment back after a snapshot step'));
        }
      });
    } catch (e) {
      await back();
      throw e;
    }
  }

  /** Sets how many snapshots the environment keeps (null: all); applied at its next snapshot. */
  async setRetention(actor: Principal, environmentId: string, keepLast: number | null): Promise<EnvironmentEntity> {
    const env = await this.environments.get(actor, environmentId);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'set the snapshot retention of this environment');
    if (keepLast !== null && (!Number.isInteger(keepLast) || keepLast < 1 || keepLast > MAX_SNAPSHOT_KEEP_LAST)) {
      throw new BadInputError(`keepLast must be a whole number from 1 to ${MAX_SNAPSHOT_KEEP_LAST} (or null: keep all)`, { keepLast });
    }
    await this.dataSource.getRepository(EnvironmentEntity).update({ id: env.id }, { snapshotKeepLast: keepLast });
    return this.environments.view(actor, environmentId);
  }

  /**
   * Takes a snapshot for the gateway's own use (a replication's consistent copy) while the caller
   * holds the environment (SNAPSHOTTING): recorded by `takenBy`, retention not applied; returns
   * what removes it again (on the driver, then its record and disk claim).
   */
  async takeFor(env: EnvironmentEntity, name: string, takenBy: string, agent: HostAgent, options: CallContextOptions): Promise<() => Promise<void>> {
    const record = await this.record(env, name, takenBy);
    try {
      await agent.snapshotEnvironment({ driver: env.driver, environmentId: env.id, name }, callContext(agent, options));
    } catch (e) {
      await this.forget(record);
      throw e;
    }
    return () => this.remove(env.id, record, agent, options);
  }

  /** Deletes the oldest snapshots beyond the environment's retention; returns their names. */
  private async applyRetention(environmentId: string, agent: HostAgent, options: CallContextOptions): Promise<string[]> {
    const env = await this.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ id: environmentId });
    if (env.snapshotKeepLast === null) return [];
    const all = await this.recorded(environmentId);
    const beyond = all.slice(0, Math.max(0, all.length - env.snapshotKeepLast));
    for (const snapshot of beyond) await this.remove(environmentId, snapshot, agent, options);
    if (beyond.length) this.logger.info({ environment: environmentId, removed: beyond.map((s) => s.name), keepLast: env.snapshotKeepLast }, 'snapshot retention applied');
    return beyond.map((s) => s.name);
  }

  /** Deletes a snapshot on the driver, then its record and disk claim. */
  private async remove(environmentId: string, snapshot: EnvironmentSnapshotEntity, agent: HostAgent, options: CallContextOptions): Promise<void> {
    const env = await this.dataSource.getRepository(EnvironmentEntity).findOneByOrFail({ id: environmentId });
    await agent.deleteSnapshot({ driver: env.driver, environmentId, name: snapshot.name }, callContext(agent, options));
    await this.forget(snapshot);
  }

  /** Records a snapshot, claiming its disk in the same transaction; CONFLICT when the name is taken. */
  private async record(env: EnvironmentEntity, name: string, createdBy: string): Promise<EnvironmentSnapshotEntity> {
    let after: () => void = () => undefined;
    const saved = await this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(EnvironmentSnapshotEntity);
      if (await repo.findOneBy({ environmentId: env.id, name })) throw new ConflictError(`Environment ${env.name} has a snapshot ${name} already`, { environmentId: env.id, snapshot: name });
      const diskBytes = env.limits.diskBytes;
      let allocationId: string | null = null;
      if (this.placement && diskBytes) {
        const claimed = await this.placement.claimWithin(m, { groupId: env.groupId, hostId: env.hostId, wants: [{ type: 'DISK', amount: diskBytes, unit: 'BYTES' }], technology: env.technology, requestedBy: createdBy });
        allocationId = claimed.allocationId;
        after = claimed.after;
      }
      return repo.save(repo.create({ environmentId: env.id, name, createdBy, allocationId }));
    });
    after();
    return saved;
  }

  /** Removes a snapshot's record and releases its disk claim. */
  private async forget(snapshot: EnvironmentSnapshotEntity): Promise<void> {
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await m.getRepository(EnvironmentSnapshotEntity).delete({ id: snapshot.id });
      return snapshot.allocationId && this.placement ? this.placement.releaseWithin(m, [snapshot.allocationId]) : () => undefined;
    });
    after();
  }

  private async find(environmentId: string, name: string): Promise<EnvironmentSnapshotEntity> {
    const snapshot = await this.dataSource.getRepository(EnvironmentSnapshotEntity).findOneBy({ environmentId, name });
    if (!snapshot) throw new NotFoundError('Snapshot', name, { environmentId });
    return snapshot;
  }

  /** The environment, checked: the caller a MEMBER of its group, and the environment created, stopped or running (CONFLICT otherwise). */
  private async settled(actor: Principal, environmentId: string, action: string): Promise<EnvironmentEntity> {
    const env = await this.environments.get(actor, environmentId);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, action);
    if (!SETTLED.has(env.status)) throw new ConflictError(`Environment ${env.name} is ${env.status}: its snapshots wait until it is created, stopped or running`, { status: env.status });
    return env;
  }

  private async agentOf(env: EnvironmentEntity): Promise<HostAgent> {
    return this.agents.forHost(await this.dataSource.getRepository(HostEntity).findOneByOrFail({ id: env.hostId }));
  }
}
