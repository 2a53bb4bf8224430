import type { DataSource, QueryRunner } from 'typeorm';
import { ConfigError } from '../../config/config';
import type { Logger } from '../../logging/logger';
import { installationId } from '../../persistence/installation';
import { PeriodicTask } from '../../scheduling/periodic-task';

/** The first key of the advisory locks on local agent ids (the second is the id's hash). */
export const LOCK_CLASS = 0x52535041; // "RSPA"

/** The in-process agent's default id: `local-` and the first 12 hex digits of the installation's id. */
export async function defaultLocalAgentId(dataSource: DataSource): Promise<string> {
  return `local-${(await installationId(dataSource)).slice(0, 12)}`;
}

/** A claimed local agent id; `release` gives it up. */
export interface LocalAgentClaim {
  agentId: string;
  /**
   * Calls `listener` once if the claim is lost for good: its lock's connection dropped (a
   * PostgreSQL restart) and another gateway took the id before this one could take it again.
   * This gateway must then stop serving its in-process agent.
   */
  onLost(listener: (agentId: string) => void): void;
  release(): Promise<void>;
}

/** How this gateway runs: what decides its in-process agent's id and whether it is locked. */
export interface LocalAgentSetting {
  /** RSP_LOCAL_AGENT_ID, when set. */
  configured?: string;
  /** REDIS_URL is set: this gateway is one of several replicas. */
  replicated: boolean;
  /** The database is the embedded PGlite (one process's). */
  embedded: boolean;
}

/**
 * The in-process agent's id, claimed for this gateway. A replica (REDIS_URL) uses
 * RSP_LOCAL_AGENT_ID or the id derived from the installation; a single gateway uses
 * RSP_LOCAL_AGENT_ID or `local`, as before replicas existed. Unless the gateway is a single one
 * with the `local` of old or runs on PGlite (one process's database, whose single session the
 * lock would hold), the id is claimed with a PostgreSQL advisory lock held on a connection of its
 * own for the gateway's life, so two gateways on one database never serve the same local agent:
 * the second gets a ConfigError (its start exits 2) naming RSP_LOCAL_AGENT_ID. The lock lives as
 * long as its connection: every `checkMs` the claim checks the connection answers, and when it
 * dropped (a PostgreSQL restart) takes the lock again on a new one — or, when another gateway
 * took the id meanwhile, logs it as an error naming the id and tells its `onLost` listeners.
 */
export async function claimLocalAgent(dataSource: DataSource, setting: LocalAgentSetting, logger: Logger, checkMs = DEFAULT_CLAIM_CHECK_MS): Promise<LocalAgentClaim> {
  const agentId = setting.configured ?? (setting.replicated ? await defaultLocalAgentId(dataSource) : 'local');
  const unlocked = setting.embedded || (!setting.replicated && !setting.configured);
  if (unlocked) return { agentId, onLost: () => undefined, release: async () => undefined };
  const holder = await lockOnNewConnection(dataSource, agentId);
  if (!holder) {
    throw new ConfigError([
      {
        variable: 'RSP_LOCAL_AGENT_ID',
        problem: `another gateway on this database already serves the in-process agent "${agentId}" (it holds its lock): give each gateway replica its own RSP_LOCAL_AGENT_ID`,
      },
    ]);
  }
  logger.info({ agent: agentId }, 'claimed the in-process agent id');
  const claim = new HeldClaim(dataSource, agentId, holder, logger);
  claim.watch(checkMs);
  return claim;
}

/** How often a claim checks the connection holding its lock unless told (the gateway passes its heartbeat interval). */
export const DEFAULT_CLAIM_CHECK_MS = 1000;

/** A connection holding the lock on an id, and its server process (`pg_backend_pid`). */
interface LockHolder {
  runner: QueryRunner;
  pid: number;
}

/** Takes the lock on `agentId` on a connection of its own; returns it holding the lock, or undefined (released) when another holds it. */
async function lockOnNewConnection(dataSource: DataSource, agentId: string): Promise<LockHolder | undefined> {
  const runner: QueryRunner = dataSource.createQueryRunner();
  let holder: LockHolder | undefined;
  try {
    await runner.connect();
    const [row] = (await runner.query(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS "locked", pg_backend_pid() AS "pid"`, [LOCK_CLASS, agentId])) as Array<{ locked: boolean; pid: number }>;
    if (row?.locked === true) holder = { runner, pid: row.pid };
  } finally {
    if (!holder) await runner.release().catch(() => undefined);
  }
  return holder;
}

/** The server process holding the lock on `agentId` in this database, or undefined when none does. */
async function lockHolderPid(dataSource: DataSource, agentId: string): Promise<number | undefined> {
  const [row] = (await dataSource.query(
    `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid = $1::bigint::oid AND l.objid = (hashtext($2)::bigint & 4294967295)::oid AND l.objsubid = 2`,
    [LOCK_CLASS, agentId],
  )) as Array<{ pid: number }>;
  return row?.pid;
}

/** A claim held by an advisory lock on a connection of its own, checked and taken again when that connection drops. */
class HeldClaim implements LocalAgentClaim {
  private readonly checks: PeriodicTask;
  private readonly listeners: Array<(agentId: string) => void> = [];
  /** True once another gateway took the id (the claim is over). */
  private lost = false;
  /** The server process of the connection that held the lock until it dropped, until the lock is held again. */
  private previousPid: number | undefined;

  constructor(
    private readonly dataSource: DataSource,
    readonly agentId: string,
    private holder: LockHolder | undefined,
    private readonly logger: Logger,
  ) {
    this.checks = new PeriodicTask(`the lock on the in-process agent id "${agentId}"`, () => this.check(), logger);
  }

  /** Checks the lock every `checkMs`. */
  watch(checkMs: number): void {
    this.checks.start(checkMs);
  }

  onLost(listener: (agentId: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Checks that the lock's connection answers; when it dropped, takes the lock again on a new one
   * (a failure to connect is thrown: the next check tries again). When the server still has the
   * dropped connection's process (the connection was cut on the way, not by a restart), that
   * process is ended and the next check takes the lock. Another gateway holding it ends the
   * claim: an error log naming the id, and the `onLost` listeners told.
   */
  async check(): Promise<void> {
    if (this.lost) return;
    if (this.holder) {
      try {
        await this.holder.runner.query('SELECT 1');
        return;
      } catch (e) {
        this.logger.warn({ agent: this.agentId, err: e }, 'the database connection holding the in-process agent id was lost (a PostgreSQL restart?): taking the id again');
        this.previousPid = this.holder.pid;
        const dropped = this.holder.runner;
        this.holder = undefined;
        await dropped.release().catch(() => undefined);
      }
    }
    const holder = await lockOnNewConnection(this.dataSource, this.agentId);
    if (holder) {
      this.holder = holder;
      this.previousPid = undefined;
      this.logger.info({ agent: this.agentId }, 'claimed the in-process agent id again');
      return;
    }
    const pid = await lockHolderPid(this.dataSource, this.agentId);
    // Nobody holds it now (released in between), or our dropped connection's process does: the next check takes it.
    if (pid === undefined) return;
    if (pid === this.previousPid) {
      await this.dataSource.query('SELECT pg_terminate_backend($1)', [pid]);
      return;
    }
    this.lost = true;
    this.logger.error(
      { agent: this.agentId, holder: pid },
      `another gateway took the in-process agent id "${this.agentId}" while this one's database connection was lost: this gateway's in-process agent "${this.agentId}" is stopped (give each gateway replica its own RSP_LOCAL_AGENT_ID)`,
    );
    for (const listener of this.listeners) listener(this.agentId);
  }

  async release(): Promise<void> {
    await this.checks.stop();
    const holder = this.holder;
    this.holder = undefined;
    if (!holder) return;
    await holder.runner.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [LOCK_CLASS, this.agentId]).catch(() => undefined);
    await holder.runner.release().catch(() => undefined);
  }
}

/** Hosts registered with `agent: local` before local agents had stable ids are served by `agentId` from now on. */
export async function adoptLegacyLocalHosts(dataSource: DataSource, agentId: string): Promise<number> {
  if (agentId === 'local') return 0;
  const [, affected] = (await dataSource.query(`UPDATE "host" SET "agent" = $1 WHERE "agent" = 'local'`, [agentId])) as [unknown, number];
  return affected ?? 0;
}
