import type { DataSource, EntityManager } from 'typeorm';
import { ConflictError } from '../errors';
import { Topic, type RspPubSub } from '../events/pubsub';
import { EnvironmentEntity, EnvironmentStatus, HostEntity, LayerEntity } from '../persistence/entities';
import { requireFreeName, validateEnvironmentName } from './names';
import { checkEnding, transientStatusFor, type NewEnvironmentStatus, type Transition } from './state-machine';

/** The recordable fields of a new environment, without identity or bookkeeping. */
export type NewEnvironment = Pick<EnvironmentEntity, 'name' | 'groupId' | 'hostId' | 'driver' | 'technology' | 'imageId' | 'limits' | 'volumes' | 'iface' | 'command'>;

/** What the end of a step may write: the status it ends in, and the spec the engine now runs. */
export type EnvironmentEnding = { status: EnvironmentStatus } & Partial<Pick<EnvironmentEntity, 'lastError' | 'imageId' | 'imageRef' | 'allocationId'>>;

/** How a new environment is recorded. */
export interface RecordOptions {
  /** The MACHINE layer of its host, parent of its ZONE layer. */
  hostLayerId: string | null;
  /** CREATING (from an image, the default) or RESTORING (from a replica). */
  status?: NewEnvironmentStatus;
  /** The allocation it runs on. */
  allocationId?: string | null;
  /** Runs first in the recording transaction (e.g. locks and checks the allocation); throwing records nothing. */
  before?(m: EntityManager): Promise<void>;
  /** Runs in the recording transaction once the row is written (e.g. claims its capacity); throwing records nothing. Returns what to do after the commit. */
  after?(m: EntityManager, env: EnvironmentEntity): Promise<() => void>;
}

/** Runs in a step's transaction and returns what to do after the commit. */
export type Alongside = (m: EntityManager) => Promise<() => void>;

/**
 * The one writer of environments: records them with their ZONE layer, moves them through the
 * state machine (`TRANSITIONS`, `ENDINGS`) with an optimistic version check on every write (a
 * lost race is CONFLICT, never an overwrite), moves them between hosts, removes half-made ones,
 * and publishes the `ENVIRONMENT` event of every status change. The services decide when; only
 * this class writes.
 */
export class EnvironmentLifecycle {
  constructor(
    private readonly dataSource: DataSource,
    /** Where status changes are published (the `events` stream), when given. */
    private readonly pubSub?: RspPubSub,
  ) {}

  /**
   * Checks the name (form, free in the group) and records a new environment with its ZONE layer
   * on the host's MACHINE layer, in one transaction.
   */
  async record(fields: NewEnvironment, options: RecordOptions): Promise<EnvironmentEntity> {
    validateEnvironmentName(fields.name);
    let committed: () => void = () => undefined;
    const env = await this.dataSource.transaction(async (m) => {
      await options.before?.(m);
      await requireFreeName(m, fields.groupId, fields.name);
      const envs = m.getRepository(EnvironmentEntity);
      const { name, groupId, hostId, driver, technology, imageId, limits, volumes, iface, command } = fields;
      const created = await envs.save(
        envs.create({ name, groupId, hostId, driver, technology, imageId, limits, volumes, iface, command, allocationId: options.allocationId ?? null, imageRef: null, status: options.status ?? EnvironmentStatus.CREATING }),
      );
      const layers = m.getRepository(LayerEntity);
      const layer = await layers.save(
        layers.create({
          kind: 'ZONE',
          name,
          groupId,
          parentId: options.hostLayerId,
          properties: [
            { key: 'technology', value: technology, locked: false },
            { key: 'environment', value: created.id, locked: false },
          ],
          requirements: [],
        }),
      );
      created.layerId = layer.id;
      const saved = await envs.save(created);
      if (options.after) committed = await options.after(m, saved);
      return saved;
    });
    committed();
    this.publish(env);
    return env;
  }

  /**
   * Moves the environment into the transient status of `transition` if its status allows it and
   * nobody changed it since it was read; CONFLICT otherwise. Returns the status it was in.
   * `also` is written with it (a host owner's intervention).
   */
  async begin(env: EnvironmentEntity, transition: Transition, also: Partial<Pick<EnvironmentEntity, 'intervention' | 'limits'>> & { alongside?: Alongside } = {}): Promise<EnvironmentStatus> {
    const from = env.status;
    const { alongside, ...fields } = also;
    const changes = { ...fields, status: transientStatusFor(transition, from, env.name) };
    if (alongside) {
      const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
        await this.write(m, env, changes);
        return alongside(m);
      });
      this.applied(env, changes);
      after();
    } else {
      await this.write(this.dataSource.manager, env, changes);
      this.applied(env, changes);
    }
    return from;
  }

  /**
   * Ends the step holding the environment: writes the status it ends in (one `ENDINGS` allows)
   * and what the engine now runs. `alongside` runs in the same transaction and returns what to do
   * after the commit.
   */
  async end(env: EnvironmentEntity, ending: EnvironmentEnding, alongside?: Alongside): Promise<void> {
    checkEnding(env.status, ending.status, env.name);
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await this.write(m, env, ending);
      return alongside ? alongside(m) : () => undefined;
    });
    this.applied(env, ending);
    after();
  }

  /** Moves the environment (held by a step) and its ZONE layer onto `host`, in one transaction; `alongside` (e.g. its claim there) runs in it. */
  async move(env: EnvironmentEntity, host: Pick<HostEntity, 'id' | 'layerId'>, alongside?: Alongside): Promise<void> {
    const changes = { hostId: host.id };
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await this.write(m, env, changes);
      if (env.layerId) await m.getRepository(LayerEntity).update({ id: env.layerId }, { parentId: host.layerId });
      return alongside ? alongside(m) : () => undefined;
    });
    this.applied(env, changes);
    after();
  }

  /**
   * Records what reconciliation found: the drift, and the status a transient one settled to
   * (with why, when it settled FAILED). False when the environment changed meanwhile.
   */
  async settle(env: EnvironmentEntity, found: { drift: string | null; status: EnvironmentStatus }): Promise<boolean> {
    const changes = { ...found, ...(found.status === EnvironmentStatus.FAILED && env.status !== found.status ? { lastError: 'interrupted: the gateway stopped during this step' } : {}) };
    if (!(await this.written(this.dataSource.manager, env, changes))) return false;
    this.applied(env, changes);
    return true;
  }

  /** Removes a half-made environment (a failed restore's) and its ZONE layer; published as DESTROYED. */
  async discard(env: EnvironmentEntity, alongside?: Alongside): Promise<void> {
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await m.getRepository(EnvironmentEntity).delete({ id: env.id });
      if (env.layerId) await m.getRepository(LayerEntity).delete({ id: env.layerId });
      return alongside ? alongside(m) : () => undefined;
    });
    after();
    this.publish({ ...env, status: EnvironmentStatus.DESTROYED });
  }

  /** Like `written`, but a lost race is CONFLICT, saying what the environment is now. */
  private async write(m: EntityManager, env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): Promise<void> {
    if (await this.written(m, env, changes)) return;
    const now = await m.getRepository(EnvironmentEntity).findOneBy({ id: env.id });
    throw new ConflictError(`Environment ${env.name} changed meanwhile (it is ${now?.status ?? 'gone'} now); try again`, { id: env.id, expected: env.status, status: now?.status ?? null });
  }

  /** Writes `changes` if the environment is still at the version read (`UPDATE … WHERE id AND version`); false when another writer won. */
  private async written(m: EntityManager, env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): Promise<boolean> {
    const result = await m
      .createQueryBuilder()
      .update(EnvironmentEntity)
      .set(changes as never)
      .where('id = :id AND version = :version', { id: env.id, version: env.version })
      .execute();
    return !!result.affected;
  }

  /** Once a write is committed: brings `env` up to date (the version moved by one) and publishes a status change. */
  private applied(env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): void {
    const statusChanged = changes.status !== undefined && changes.status !== env.status;
    Object.assign(env, changes);
    env.version += 1;
    if (statusChanged) this.publish(env);
  }

  private publish(env: Pick<EnvironmentEntity, 'id' | 'name' | 'groupId' | 'hostId' | 'status'>): void {
    this.pubSub?.publish(Topic.EVENT, { kind: 'ENVIRONMENT', at: Date.now(), groupId: env.groupId, siteId: null, environment: { id: env.id, name: env.name, hostId: env.hostId, status: env.status } });
  }
}
