import { DataSource, EntityManager, Repository } from 'typeorm';
import { BadInputError, ConflictError, isRspError, NotFoundError, RspError } from '../errors';
import type { RspPubSub } from '../events/pubsub';
import { Topic } from '../events/pubsub';
import type { CarriedWrite } from '../environments/lifecycle';
import { rowsOf } from '../placement/claims';
import type { Logger } from '../logging/logger';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { MemberRole, OperationEntity, OperationState, TERMINAL_OPERATION_STATES } from '../persistence/entities';
import { UUID_PATTERN } from '../persistence/time-ordered-id';

/** What a running operation's work can do: report progress, see cancellation. */
export interface OperationControl {
  readonly operationId: string;
  /** Aborted when the operation is cancelled. */
  readonly signal: AbortSignal;
  /** Reports progress (0–1) and an optional message; cheap to call often. */
  progress(fraction: number, message?: string): Promise<void>;
  /**
   * The work's last write, carried by the statement that ends the operation SUCCEEDED (one
   * statement for both): called last, just before the work returns its result. When it matches
   * nothing (its target changed meanwhile), neither is written and the operation ends FAILED
   * with its CONFLICT.
   */
  succeedWith(write: CarriedWrite): void;
}

/** The work an operation runs; whatever it returns is stored as the result. */
export type OperationWork = (control: OperationControl) => Promise<Record<string, unknown> | void>;

/** What to record about a new operation. */
export interface NewOperation {
  kind: string;
  targetType?: string;
  targetId?: string;
  groupId?: string | null;
  /** The group of the caller, when it acts on another group's target (it sees the operation too). */
  actorGroupId?: string | null;
  /**
   * What every log line of its run carries besides its id, kind, target and group, for the
   * operator reading a failure: an environment's `host` (its hostname) and `driver`.
   */
  log?: Record<string, string | undefined>;
}

/** The target id of the operations on the gateway's own replica store (`replica.gc` without a host): the one target id that is no UUID. */
export const GATEWAY_STORE_TARGET_ID = 'gateway';

/** Filters of `list`. */
export interface OperationFilter {
  state?: OperationState;
  targetType?: string;
  targetId?: string;
  groupIds?: string[];
}

/** What an operation a stopping gateway could not finish ends as. */
const INTERRUPTED = {
  state: OperationState.FAILED,
  errorCode: 'UNAVAILABLE',
  errorMessage: 'Interrupted: the gateway stopped before this operation ended; check the target\'s state and run it again',
} as const;

/** Whether an abort reason is the gateway's shutdown (not a caller's cancellation). */
function isShutdown(reason: unknown): boolean {
  return isRspError(reason) && reason.category === 'UNAVAILABLE';
}

/** Whether `promise` settles within `ms` (its timer is cleared either way). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const outcome = await Promise.race([promise.then(() => true), timedOut]);
  clearTimeout(timer);
  return outcome;
}

/** The columns `start` writes, in the order of its values. */
const OPERATION_COLUMNS = '"kind", "targetType", "targetId", "groupId", "actorGroupId", "runner", "state", "progress", "startedAt", "version"';

/** The types of those columns: an `INSERT … SELECT` infers no type from its target columns. */
const OPERATION_COLUMN_TYPES = ['varchar', 'varchar', 'varchar', 'uuid', 'uuid', 'varchar', 'varchar', 'float8', 'timestamptz', 'int4'];

/** `$n::type, …` for the operation's values following `offset` parameters of a carried write. */
function castPlaceholders(offset: number): string {
  return OPERATION_COLUMN_TYPES.map((type, i) => `$${offset + i + 1}::${type}`).join(', ');
}

/** The texts of `insertOperationText`, by offset. */
const insertOperationTexts = new Map<number, string>();
/**
 * The INSERT of one operation, written out (every lifecycle step records one, and the repository's
 * save costs several times its statement), its parameters numbered after `offset` others (0 alone,
 * more when another statement carries it), each text made once.
 */
function insertOperationText(offset: number): string {
  let text = insertOperationTexts.get(offset);
  if (text === undefined) {
    text = `INSERT INTO "operation" (${OPERATION_COLUMNS}) VALUES (${OPERATION_COLUMN_TYPES.map((_, i) => `$${offset + i + 1}`).join(', ')}) RETURNING "id", "createdAt", "updatedAt"`;
    insertOperationTexts.set(offset, text);
  }
  return text;
}

/** A new operation of `runner`, RUNNING from now (its id and times are the database's). */
function newOperation(spec: NewOperation, runner: string | null): OperationEntity {
  return Object.assign(new OperationEntity(), {
    kind: spec.kind,
    targetType: spec.targetType ?? null,
    targetId: spec.targetId ?? null,
    groupId: spec.groupId ?? null,
    actorGroupId: spec.actorGroupId ?? null,
    runner,
    state: OperationState.RUNNING,
    progress: 0,
    message: null,
    result: null,
    errorCode: null,
    errorMessage: null,
    startedAt: new Date(),
    finishedAt: null,
    version: 1,
  });
}

/** The values of `OPERATION_COLUMNS` for `op`. */
function operationValues(op: OperationEntity): unknown[] {
  return [op.kind, op.targetType, op.targetId, op.groupId, op.actorGroupId, op.runner, op.state, op.progress, op.startedAt, op.version];
}

/** The message of a failed operation on another group's target, for the group that started it. */
const FOREIGN_FAILURE = "The operation failed; its message is for the members of the environment's group";

/** The keys of an operation's result shown to a group that acted on another group's target. */
const FOREIGN_RESULT_KEYS = ['environmentId', 'status'];

function limitedResult(result: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result).filter(([key]) => FOREIGN_RESULT_KEYS.includes(key)));
}

/** How long `cancel` waits for the work to stop, to answer the state it ended in. */
const CANCEL_ANSWER_WAIT_MS = 2_000;

/** Progress is written at most once per this interval (every update is published). */
const PROGRESS_WRITE_INTERVAL_MS = 250;

/**
 * Runs long actions as persisted operations: records them, runs their work in the background,
 * stores progress, result or error, and publishes every change on `OPERATION_UPDATED`.
 */
export class OperationService {
  private readonly repo: Repository<OperationEntity>;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<OperationEntity> }>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubSub: RspPubSub,
    private readonly logger: Logger,
    /** This gateway's id: recorded on the operations it runs. */
    private readonly runner: string | null = null,
  ) {
    this.repo = dataSource.getRepository(OperationEntity);
  }

  /**
   * Ends FAILED the operations a previous run of this gateway left PENDING or RUNNING (it was
   * killed or crashed: nothing runs them any more). Called at start, before any new operation;
   * other gateways' operations are left alone. Returns how many were ended.
   */
  async failAbandoned(): Promise<number> {
    if (!this.runner) return 0;
    const abandoned = await this.repo.find({ where: [{ runner: this.runner, state: OperationState.RUNNING }, { runner: this.runner, state: OperationState.PENDING }] });
    for (const op of abandoned) {
      await this.update(op, {
        state: OperationState.FAILED,
        errorCode: 'UNAVAILABLE',
        errorMessage: `Interrupted: the gateway running this operation stopped before it ended (killed or crashed${op.startedAt ? `; it had started at ${op.startedAt.toISOString()}` : ''}); it was ended at the gateway's restart: check the target's state and run it again`,
        finishedAt: new Date(),
      });
    }
    if (abandoned.length) this.logger.warn({ operations: abandoned.map((o) => o.id) }, 'ended operations a previous run of this gateway left running');
    return abandoned.length;
  }

  /**
   * Records a new operation, RUNNING (its work starts at once: one write, not a PENDING one and a
   * RUNNING one), and starts `work` in the background; returns it. `carrying`: the write that
   * claims its target (an environment's step beginning), in the same statement — when it matches
   * nothing, neither is written and its CONFLICT is thrown.
   */
  async start(spec: NewOperation, work: OperationWork, carrying?: CarriedWrite): Promise<OperationEntity> {
    const op = newOperation(spec, this.runner);
    const values = operationValues(op);
    const [row] = (
      carrying
        ? await this.dataSource.query(`WITH carried AS (${carrying.text})${carrying.with ? `, ${carrying.with}` : ''} INSERT INTO "operation" (${OPERATION_COLUMNS}) SELECT ${castPlaceholders(carrying.params.length)} WHERE EXISTS (SELECT 1 FROM carried) RETURNING "id", "createdAt", "updatedAt"`, [...carrying.params, ...values])
        : await this.dataSource.query(insertOperationText(0), values)
    ) as Array<Pick<OperationEntity, 'id' | 'createdAt' | 'updatedAt'>>;
    if (!row) throw await carrying!.lost();
    carrying?.applied();
    return this.launch(Object.assign(op, row), work, spec.log);
  }

  /**
   * Records a new operation (RUNNING) in a statement of the caller's transaction that records
   * what it is about (one statement, one commit for both): `text` is its INSERT for that statement
   * to carry (`WITH op AS (<text>)`), its parameters `params` numbered after `offset` others,
   * returning "id", "createdAt" and "updatedAt"; `recorded` takes that row and returns the
   * function that starts its work, to call once the transaction has committed (never when it
   * rolled back). A gateway stopped in between leaves it RUNNING, as one stopped during its work:
   * the next start ends it (`failAbandoned`).
   */
  recordCarried(spec: NewOperation, offset: number): { text: string; params: unknown[]; recorded(row: Pick<OperationEntity, 'id' | 'createdAt' | 'updatedAt'>): (work: OperationWork) => OperationEntity } {
    const op = newOperation(spec, this.runner);
    return {
      text: insertOperationText(offset),
      params: operationValues(op),
      recorded: (row) => {
        Object.assign(op, row);
        return (work) => this.launch(op, work, spec.log);
      },
    };
  }

  /** Publishes a recorded operation and starts its work in the background (its log lines carrying `log`); returns it. */
  private launch(op: OperationEntity, work: OperationWork, log: NewOperation['log']): OperationEntity {
    this.publish(op);
    const controller = new AbortController();
    // Its work starts once it is registered as running here (cancellable).
    const done = Promise.resolve().then(() => this.execute(op, work, controller.signal, log));
    this.running.set(op.id, { controller, done });
    void done.finally(() => this.running.delete(op.id));
    return op;
  }

  /** One operation, or NOT_FOUND. With an actor: only if the actor may see it. */
  async get(id: string, actor?: Principal): Promise<OperationEntity> {
    if (actor) policy.requireAuthenticated(actor);
    const op = await this.repo.findOneBy({ id });
    if (!op || (actor && !this.visibleTo(actor, op))) throw new NotFoundError('Operation', id);
    return op;
  }

  /** Site admins see every operation; members see their group's and those their group started on another's. */
  visibleTo(actor: Principal, op: Pick<OperationEntity, 'groupId'> & Partial<Pick<OperationEntity, 'actorGroupId'>>): boolean {
    if (actor.kind !== 'token') return false;
    if (actor.siteAdmin) return true;
    return actor.groupId !== null && (op.groupId === actor.groupId || op.actorGroupId === actor.groupId);
  }

  /**
   * What `actor` sees of an operation it may see. One its group started on another group's target
   * (a host's admins stopping or evicting a guest) shows its state and code, but not the failure's
   * message nor more of its result than the environment and status: those are the target group's,
   * as the guest's errors, config and command are in the host admins' limited view of the guest.
   */
  present<T extends Pick<OperationEntity, 'groupId' | 'result' | 'errorCode' | 'errorMessage'>>(actor: Principal, op: T): T {
    if (actor.kind !== 'token' || actor.siteAdmin || op.groupId === null || op.groupId === actor.groupId) return op;
    return Object.assign(Object.create(Object.getPrototypeOf(op) as object) as T, op, {
      result: op.result ? limitedResult(op.result) : null,
      errorMessage: op.errorCode ? FOREIGN_FAILURE : null,
    });
  }

  /** Operations the actor may see, newest first, filtered. */
  async listFor(actor: Principal, filter: OperationFilter, limit: number, offset: number): Promise<{ items: OperationEntity[]; total: number }> {
    const p = policy.requireAuthenticated(actor);
    // Checked as every other id is (the database's uuid type refuses those): the target id column is text.
    if (filter.targetId !== undefined && filter.targetId !== null && !UUID_PATTERN.test(filter.targetId) && filter.targetId !== GATEWAY_STORE_TARGET_ID) {
      throw new BadInputError(`Not an id: "${filter.targetId.length > 100 ? `${filter.targetId.slice(0, 100)}…` : filter.targetId}" (ids are UUIDs)`, { field: 'targetId' });
    }
    return this.list(p.siteAdmin ? filter : { ...filter, groupIds: p.groupId ? [p.groupId] : [] }, limit, offset);
  }

  /** Operations newest first, filtered. */
  async list(filter: OperationFilter, limit: number, offset: number): Promise<{ items: OperationEntity[]; total: number }> {
    const qb = this.repo.createQueryBuilder('op');
    if (filter.state) qb.andWhere('op.state = :state', { state: filter.state });
    if (filter.targetType) qb.andWhere('op.targetType = :targetType', { targetType: filter.targetType });
    if (filter.targetId) qb.andWhere('op.targetId = :targetId', { targetId: filter.targetId });
    if (filter.groupIds) qb.andWhere('(op.groupId IN (:...groupIds) OR op.actorGroupId IN (:...groupIds))', { groupIds: filter.groupIds.length ? filter.groupIds : ['00000000-0000-0000-0000-000000000000'] });
    const [items, total] = await qb.orderBy('op.createdAt', 'DESC').addOrderBy('op.id', 'DESC').take(limit).skip(offset).getManyAndCount();
    return { items, total };
  }

  /**
   * Asks a running operation to stop; its work sees the abort signal. Answers the state it ended
   * in when its work stops within a moment (most do), else its running state. CONFLICT naming the
   * state when it already ended; UNAVAILABLE when another gateway runs it (cancel it there). One
   * recorded as running here that nothing runs (a killed run of this gateway left it) ends FAILED
   * ("interrupted") now, and the answer is that CONFLICT.
   */
  async cancel(actor: Principal, id: string): Promise<OperationEntity> {
    policy.requireAuthenticated(actor);
    const op = await this.get(id, actor);
    if (op.groupId) policy.requireRole(actor, op.groupId, MemberRole.MEMBER, 'cancel this operation');
    else policy.requireSiteAdmin(actor, 'cancel site operations');
    if (TERMINAL_OPERATION_STATES.has(op.state)) {
      throw new ConflictError(`Operation ${id} already ended as ${op.state}`, { id, state: op.state });
    }
    const entry = this.running.get(id);
    if (entry) {
      entry.controller.abort(new RspError('CONFLICT', 'cancelled'));
      return (await settledWithin(entry.done, CANCEL_ANSWER_WAIT_MS)) ? entry.done : op;
    }
    if (op.runner && op.runner !== this.runner) {
      throw new RspError('UNAVAILABLE', `Operation ${id} runs on another gateway (${op.runner}): cancel it through that gateway`, { id, runner: op.runner });
    }
    const ended = await this.update(op, { ...INTERRUPTED, finishedAt: new Date() });
    this.logger.warn({ operation: id }, 'ended an operation recorded as running here that nothing ran');
    throw new ConflictError(`Operation ${id} already ended as ${ended.state}`, { id, state: ended.state });
  }

  /** Resolves when the operation has ended (or at once if it is not running here). */
  async settled(id: string): Promise<OperationEntity> {
    const entry = this.running.get(id);
    return entry ? entry.done : this.get(id);
  }

  /**
   * Ends every operation still running here, for a shutdown that must not hang: waits up to
   * `graceMs` for them to finish, then cancels the rest (they end FAILED, "interrupted") and waits
   * up to `abortMs` for their work to stop; one whose work ignores the cancellation is recorded
   * FAILED ("interrupted") all the same. Nothing is left RUNNING by a clean stop.
   */
  async drain(graceMs = 2_000, abortMs = 1_000): Promise<void> {
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    if (await settledWithin(all(), graceMs)) return;
    this.logger.warn({ operations: [...this.running.keys()] }, 'interrupting operations still running at shutdown');
    for (const r of this.running.values()) r.controller.abort(new RspError('UNAVAILABLE', 'the gateway is shutting down'));
    if (await settledWithin(all(), abortMs)) return;
    const stuck = [...this.running.keys()];
    this.logger.warn({ operations: stuck }, 'operations did not stop when interrupted; recording them FAILED');
    for (const id of stuck) {
      const op = await this.repo.findOneBy({ id });
      if (op && !TERMINAL_OPERATION_STATES.has(op.state)) await this.update(op, { ...INTERRUPTED, finishedAt: new Date() });
      this.running.delete(id);
    }
  }

  private async execute(op: OperationEntity, work: OperationWork, signal: AbortSignal, fields: NewOperation['log'] = {}): Promise<OperationEntity> {
    const log = this.logger.child({ operation: op.id, kind: op.kind, target: op.targetId ?? undefined, group: op.groupId ?? undefined, ...fields });
    // Progress is published at once and written at most once per interval: a change within one
    // is written when it ends (if the operation still runs), or with the operation's end.
    let lastWrite = Date.now(); // `start` has just written the row
    let timer: NodeJS.Timeout | undefined;
    let writing: Promise<void> = Promise.resolve();
    const writeProgress = () => {
      timer = undefined;
      lastWrite = Date.now();
      writing = writing.then(async () => void (await this.write(op))).catch((e: unknown) => log.warn({ err: e }, 'could not record the progress of an operation'));
    };
    let carried: CarriedWrite | undefined;
    const control: OperationControl = {
      operationId: op.id,
      signal,
      succeedWith: (write) => {
        carried = write;
      },
      progress: async (fraction, message) => {
        const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
        op.progress = Math.max(op.progress, clamped);
        if (message !== undefined) op.message = message;
        this.publish(op);
        const wait = lastWrite + PROGRESS_WRITE_INTERVAL_MS - Date.now();
        if (wait <= 0) {
          clearTimeout(timer);
          writeProgress();
          await writing;
        } else timer ??= setTimeout(writeProgress, wait);
      },
    };
    // The work's last write (`succeedWith`) once the work has returned, until a statement ending the operation has carried it.
    let pending: CarriedWrite | undefined;
    const end = async (changes: Partial<OperationEntity>) => {
      clearTimeout(timer);
      await writing;
      const write = pending;
      pending = undefined;
      if (!write || changes.state === OperationState.SUCCEEDED) return this.update(op, changes, write);
      // Cancelled or interrupted once its work was done: the work's last write still goes with the operation's end (alone, when it no longer matches).
      return this.update(op, changes, write).catch(() => this.update(op, changes));
    };
    try {
      // Cancelled before it began: its work never starts (a listener it adds to an already
      // aborted signal would never hear the abort).
      if (signal.aborted) throw signal.reason;
      const result = await work(control);
      pending = carried;
      if (signal.aborted) throw signal.reason;
      const ended = await end({ state: OperationState.SUCCEEDED, progress: 1, result: (result ?? null) as never, finishedAt: new Date() });
      log.info('operation succeeded');
      return ended;
    } catch (e) {
      if (signal.aborted && isShutdown(signal.reason)) {
        log.warn('operation interrupted by the gateway stopping');
        return await end({ ...INTERRUPTED, finishedAt: new Date() });
      }
      const cancelled = signal.aborted;
      const error = isRspError(e) ? e : null;
      if (cancelled) log.info('operation cancelled');
      else if (error && error.category !== 'INTERNAL') log.warn({ code: error.category, err: e }, 'operation failed');
      else log.error({ err: e }, 'operation failed with an internal error');
      return await end({
        state: cancelled ? OperationState.CANCELLED : OperationState.FAILED,
        errorCode: cancelled ? 'CANCELLED' : error ? error.category : 'INTERNAL_SERVER_ERROR',
        errorMessage: cancelled ? 'Cancelled on request' : error ? error.message : `Internal error: ${(e as Error)?.message ?? String(e)}`,
        finishedAt: new Date(),
      });
    }
  }

  /** Writes `changes` (with `carried` in the same statement: nothing is written, and its CONFLICT thrown, when it matches nothing) and publishes the operation. */
  private async update(op: OperationEntity, changes: Partial<OperationEntity>, carried?: CarriedWrite): Promise<OperationEntity> {
    // With a carried write, the operation in memory changes only once both are written.
    const returned = carried ? await this.write({ ...op, ...changes } as OperationEntity, carried) : undefined;
    Object.assign(op, changes);
    if (carried) {
      op.updatedAt = new Date();
      carried.applied(returned);
    } else await this.write(op);
    this.publish(op);
    return op;
  }

  /** Writes the operation as it is in `op`; with `carried` in the same statement, throwing its CONFLICT when it matched nothing, answering what its `returning` returned. */
  private async write(op: OperationEntity, carried?: CarriedWrite): Promise<unknown> {
    const { state, progress, message, result, errorCode, errorMessage, startedAt, finishedAt } = op;
    const values = [state, progress, message ?? null, result == null ? null : JSON.stringify(result), errorCode ?? null, errorMessage ?? null, startedAt ?? null, finishedAt ?? null, op.id];
    // Written out (as the repository's update would write it): every step's progress and end come here.
    const set = (at: number) =>
      `UPDATE "operation" SET "state" = $${at + 1}, "progress" = $${at + 2}, "message" = $${at + 3}, "result" = $${at + 4}, "errorCode" = $${at + 5}, "errorMessage" = $${at + 6}, "startedAt" = $${at + 7}, "finishedAt" = $${at + 8}, "version" = "version" + 1, "updatedAt" = CURRENT_TIMESTAMP WHERE "id" = $${at + 9}`;
    if (!carried) {
      await this.dataSource.query(set(0), values);
      op.updatedAt = new Date();
      return;
    }
    const rows: unknown = await this.dataSource.query(
      `WITH carried AS (${carried.text})${carried.with ? `, ${carried.with}` : ''} ${set(carried.params.length)} AND EXISTS (SELECT 1 FROM carried) RETURNING "id"${carried.returning ? `, ${carried.returning} AS "carried"` : ''}`,
      [...carried.params, ...values],
    );
    // An UPDATE answers [rows, count] through TypeORM: its rows are what tells whether it matched.
    const [row] = rowsOf<{ carried?: unknown }>(rows);
    if (!row) throw await carried.lost();
    return row.carried;
  }

  private publish(op: OperationEntity): void {
    this.pubSub.publish(Topic.OPERATION_UPDATED, { ...op });
  }
}
