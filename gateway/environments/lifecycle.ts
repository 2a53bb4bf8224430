import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { ConflictError } from '../errors';
import { Topic, type RspPubSub } from '../events/pubsub';
import { assignAddress, publishPorts, releaseNetwork } from '../networks/host-network';
import { endAllocationsCarried, rowsOf } from '../placement/claims';
import { EntityStatements } from '../persistence/entity-statements';
import { AllocationStatus, EnvironmentEntity, EnvironmentStatus, HostEntity, LayerEntity, type PublishedPort } from '../persistence/entities';
import { nameTakenError, validateEnvironmentName } from './names';
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
  /**
   * Whether it gets an address of its host's range (its driver attaches it to the managed
   * network). Default: when `iface.address` is set (a copy's of its source): a copy always gets
   * a fresh address of its own host.
   */
  assignAddress?: boolean;
  /** Host ports to publish to it; default none (a copy never takes its source's ports). */
  ports?: PublishedPort[];
  /** Runs first in the recording transaction (e.g. locks and checks the allocation); throwing records nothing. */
  before?(m: EntityManager): Promise<void>;
  /** Runs in the recording transaction once the row is written (e.g. claims its capacity); throwing records nothing. Returns what to do after the commit. */
  after?(m: EntityManager, env: EnvironmentEntity): Promise<() => void>;
  /**
   * The row recorded with it, in the statement that inserts it (its operation:
   * `OperationService.recordCarried`), made from the environment (its id chosen) and the number
   * of parameters before its own.
   */
  carry?(env: EnvironmentEntity, offset: number): CarriedInsert;
}

/** An INSERT another statement carries (`WITH … AS (<text>)`); `recorded` gets the row it returned. */
export interface CarriedInsert {
  text: string;
  params: unknown[];
  recorded(row: { id: string; createdAt: Date; updatedAt: Date }): void;
}

/** Runs in a step's transaction and returns what to do after the commit. */
export type Alongside = (m: EntityManager) => Promise<() => void>;

/**
 * A version-checked write of one environment that another statement carries as its `WITH`
 * (one statement, atomic, for both: the operation of the step is recorded or ended with it).
 * The carrying statement writes its own row only when this one matched (`EXISTS (SELECT 1 FROM
 * <its name>)`), so either both are written or neither.
 */
export interface CarriedWrite {
  /** An `UPDATE … RETURNING` of the environment, its parameters numbered from $1. */
  text: string;
  /** The parameters of `text`, then those of `with`. */
  params: unknown[];
  /**
   * More `name AS (…)` definitions written in the same statement after `carried` (comma-separated),
   * each writing nothing unless the environment's write matched (`EXISTS (SELECT 1 FROM carried)`).
   */
  with?: string;
  /** An expression over those definitions the carrying statement returns as `"carried"`, handed to `applied`. */
  returning?: string;
  /** Once the carrying statement has written it: brings the environment up to date and publishes its status change. `returned`: the value of `returning`. */
  applied(returned?: unknown): void;
  /** When it matched nothing (another writer won): the CONFLICT saying what the environment is now. */
  lost(): Promise<ConflictError>;
}

/**
 * The one writer of environments: records them with their ZONE layer, moves them through the
 * state machine (`TRANSITIONS`, `ENDINGS`) with an optimistic version check on every write (a
 * lost race is CONFLICT, never an overwrite), moves them between hosts, removes half-made ones,
 * and publishes the `ENVIRONMENT` event of every status change. The addresses and host ports
 * they hold are taken and given back in the same transactions (`gateway/networks/`). The services decide when; only
 * this class writes.
 */
export class EnvironmentLifecycle {
  /** The version-checked updates of environments, written out once per set of columns. */
  private readonly statements: EntityStatements<EnvironmentEntity>;
  /** The insert of environments' ZONE layers, written out once. */
  private readonly layerRows: EntityStatements<LayerEntity>;

  constructor(
    private readonly dataSource: DataSource,
    /** Where status changes are published (the `events` stream), when given. */
    private readonly pubSub?: RspPubSub,
  ) {
    this.statements = new EntityStatements(dataSource, EnvironmentEntity);
    this.layerRows = new EntityStatements(dataSource, LayerEntity);
  }

  /**
   * Checks the name (form, free in the group) and records a new environment with its ZONE layer
   * on the host's MACHINE layer, in one transaction.
   */
  async record(fields: NewEnvironment, options: RecordOptions): Promise<EnvironmentEntity> {
    validateEnvironmentName(fields.name);
    let committed: () => void = () => undefined;
    const env = await this.dataSource.transaction(async (m) => {
      await options.before?.(m);
      const envs = m.getRepository(EnvironmentEntity);
      const { name, groupId, hostId, driver, technology, imageId, limits, volumes, command } = fields;
      const { address: sourceAddress, ports: _sourcePorts, ...iface } = fields.iface;
      // Its id is chosen here so that its ZONE layer (which names it) is written first and the
      // environment once, pointing at it.
      const id = randomUUID();
      const layer = m.getRepository(LayerEntity).create({
        id: randomUUID(),
        kind: 'ZONE',
        name,
        groupId,
        parentId: options.hostLayerId,
        properties: [
          { key: 'technology', value: technology, locked: false },
          { key: 'environment', value: id, locked: false },
        ],
        requirements: [],
      });
      let saved = envs.create({ id, name, groupId, hostId, driver, technology, imageId, limits, volumes, iface, command, allocationId: options.allocationId ?? null, imageRef: null, status: options.status ?? EnvironmentStatus.CREATING, layerId: layer.id });
      // Both rows in one statement, written out (TypeORM's insert cost more CPU than the statement), the environment's defaults read back into `saved`.
      const zone = this.layerRows.insert(layer);
      const row = this.statements.insert(saved, zone.params.length);
      // A live environment of the group with the name refuses it (the database's unique index: exact under concurrent creates).
      // The row it carries (its operation), in the same statement.
      const carried = options.carry?.(saved, zone.params.length + row.params.length);
      const text = carried
        ? `WITH zone AS (${zone.text}), env AS (${row.text}), carried AS (${carried.text}) SELECT env.*, carried."id" AS "carried_id", carried."createdAt" AS "carried_createdAt", carried."updatedAt" AS "carried_updatedAt" FROM env, carried`
        : `WITH zone AS (${zone.text}) ${row.text}`;
      const inserted = await m.query(text, [...zone.params, ...row.params, ...(carried?.params ?? [])]).catch((e: unknown) => {
        throw nameTakenError(e, name) ?? e;
      });
      const returned = rowsOf(inserted)[0] as Record<string, unknown>;
      row.merge(returned);
      carried?.recorded({ id: returned.carried_id as string, createdAt: returned.carried_createdAt as Date, updatedAt: returned.carried_updatedAt as Date });
      const networked = options.assignAddress ?? !!sourceAddress;
      if (networked) saved.iface = { ...saved.iface, address: await assignAddress(m, hostId, saved.id) };
      if (options.ports?.length) {
        await publishPorts(m, hostId, saved.id, options.ports);
        saved.iface = { ...saved.iface, ports: options.ports };
      }
      if (networked || options.ports?.length) saved = await envs.save(saved);
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
   * `begin` as a write another statement carries (see `CarriedWrite`): CONFLICT at once when the
   * status does not allow the transition; `from` is the status it was in.
   */
  beginCarried(env: EnvironmentEntity, transition: Transition, also: Partial<Pick<EnvironmentEntity, 'intervention'>> = {}): CarriedWrite & { from: EnvironmentStatus } {
    const from = env.status;
    return { ...this.carried(env, { ...also, status: transientStatusFor(transition, from, env.name) }), from };
  }

  /**
   * `end` without `alongside` as a write another statement carries (see `CarriedWrite`); not for
   * DESTROYED, whose end releases what the environment holds in a transaction.
   */
  endCarried(env: EnvironmentEntity, ending: EnvironmentEnding): CarriedWrite {
    checkEnding(env.status, ending.status, env.name);
    if (ending.status === EnvironmentStatus.DESTROYED) throw new Error('a DESTROYED ending releases what the environment holds: end it with end()');
    return this.carried(env, ending);
  }

  /**
   * The DESTROYED end of a destroy as a write another statement carries (see `CarriedWrite`),
   * releasing in the same statement what the environment holds, as `end(…, DESTROYED)` and the
   * release of its holdings did in a transaction: its address and host ports, its snapshots'
   * records and — with `allocations` — its own allocation, its implicit ones and those holding
   * its snapshots' disk, ended RELEASED at `at`, their claims given back to the resources (locked
   * in id order, as every claim locks them). `released` gets the hosts whose allocations ended.
   */
  endDestroyedCarried(env: EnvironmentEntity, lastError: string | null, allocations?: { at: Date; released(hostIds: string[]): void }): CarriedWrite {
    const ending = { status: EnvironmentStatus.DESTROYED, lastError };
    checkEnding(env.status, ending.status, env.name);
    const [text, params] = this.statements.versionedUpdate(env.id, env.version, ending, true);
    const matched = 'EXISTS (SELECT 1 FROM carried)';
    const id = `$${params.length + 1}::uuid`;
    const defs = [
      `address AS (DELETE FROM "environment_address" WHERE "environmentId" = ${id} AND ${matched})`,
      `ports AS (DELETE FROM "host_port" WHERE "environmentId" = ${id} AND ${matched})`,
      `gone AS (DELETE FROM "environment_snapshot" WHERE "environmentId" = ${id} AND ${matched} RETURNING "allocationId")`,
    ];
    const extra: unknown[] = [env.id];
    if (allocations) {
      const [held, status, at] = [`$${params.length + 2}::uuid`, `$${params.length + 3}::varchar`, `$${params.length + 4}::timestamptz`];
      extra.push(env.allocationId ?? null, AllocationStatus.RELEASED, allocations.at);
      defs.push(...endAllocationsCarried(`(id = ${held} OR "environmentId" = ${id} OR id IN (SELECT "allocationId" FROM gone)) AND ${matched}`, status, at));
    }
    return {
      text,
      params: [...params, ...extra],
      with: defs.join(', '),
      returning: allocations ? `(SELECT coalesce(json_agg(DISTINCT "hostId"), '[]'::json) FROM ended)` : undefined,
      applied: (returned) => {
        this.applied(env, ending);
        if (allocations) allocations.released(((typeof returned === 'string' ? JSON.parse(returned) : returned) as string[] | null) ?? []);
      },
      lost: async () => this.conflict(this.dataSource.manager, env),
    };
  }

  /** The version-checked `UPDATE` of `changes`, for another statement to carry. */
  private carried(env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): CarriedWrite {
    const [text, params] = this.statements.versionedUpdate(env.id, env.version, changes, true);
    return {
      text,
      params,
      applied: () => this.applied(env, changes),
      lost: async () => this.conflict(this.dataSource.manager, env),
    };
  }

  /**
   * Ends the step holding the environment: writes the status it ends in (one `ENDINGS` allows)
   * and what the engine now runs. `alongside` runs in the same transaction and returns what to do
   * after the commit.
   */
  async end(env: EnvironmentEntity, ending: EnvironmentEnding, alongside?: Alongside): Promise<void> {
    checkEnding(env.status, ending.status, env.name);
    if (!alongside && ending.status !== EnvironmentStatus.DESTROYED) {
      // One statement, atomic by itself: no transaction's round trips around it.
      await this.write(this.dataSource.manager, env, ending);
      this.applied(env, ending);
      return;
    }
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      await this.write(m, env, ending);
      if (ending.status === EnvironmentStatus.DESTROYED) await releaseNetwork(m, env.id);
      return alongside ? alongside(m) : () => undefined;
    });
    this.applied(env, ending);
    after();
  }

  /**
   * Moves the environment (held by a step) and its ZONE layer onto `host`, in one transaction;
   * `alongside` (e.g. its claim there) runs in it. Its address and host ports move with it: an
   * address of the new host's range, the same host ports there (CONFLICT when one is taken).
   */
  async move(env: EnvironmentEntity, host: Pick<HostEntity, 'id' | 'layerId'>, alongside?: Alongside): Promise<void> {
    const changes: Partial<EnvironmentEntity> = { hostId: host.id };
    const after = await this.dataSource.transaction(async (m): Promise<() => void> => {
      if (host.id !== env.hostId) {
        await releaseNetwork(m, env.id);
        const address = env.iface.address ? await assignAddress(m, host.id, env.id) : undefined;
        if (env.iface.ports?.length) await publishPorts(m, host.id, env.id, env.iface.ports);
        if (address) changes.iface = { ...env.iface, address };
      }
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
      await releaseNetwork(m, env.id);
      if (env.layerId) await m.getRepository(LayerEntity).delete({ id: env.layerId });
      return alongside ? alongside(m) : () => undefined;
    });
    after();
    this.publish({ ...env, status: EnvironmentStatus.DESTROYED });
  }

  /** Like `written`, but a lost race is CONFLICT, saying what the environment is now. */
  private async write(m: EntityManager, env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): Promise<void> {
    if (await this.written(m, env, changes)) return;
    throw await this.conflict(m, env);
  }

  /** The CONFLICT of a lost race on `env`, saying what it is now. */
  private async conflict(m: EntityManager, env: EnvironmentEntity): Promise<ConflictError> {
    const now = await m.getRepository(EnvironmentEntity).findOneBy({ id: env.id });
    return new ConflictError(`Environment ${env.name} changed meanwhile (it is ${now?.status ?? 'gone'} now); try again`, { id: env.id, expected: env.status, status: now?.status ?? null });
  }

  /** Writes `changes` if the environment is still at the version read (`UPDATE … WHERE id AND version`); false when another writer won. */
  private async written(m: EntityManager, env: EnvironmentEntity, changes: Partial<EnvironmentEntity>): Promise<boolean> {
    const [text, params] = this.statements.versionedUpdate(env.id, env.version, changes, true);
    return rowsOf(await m.query(text, params)).length > 0;
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
