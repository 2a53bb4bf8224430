import type { DataSource, QueryRunner } from 'typeorm';
import { ConfigError } from '../../config/config';
import type { Logger } from '../../logging/logger';
import { installationId } from '../../persistence/installation';

/** The first key of the advisory locks on local agent ids (the second is the id's hash). */
const LOCK_CLASS = 0x52535041; // "RSPA"

/** The in-process agent's default id: `local-` and the first 12 hex digits of the installation's id. */
export async function defaultLocalAgentId(dataSource: DataSource): Promise<string> {
  return `local-${(await installationId(dataSource)).slice(0, 12)}`;
}

/** A claimed local agent id; `release` gives it up. */
export interface LocalAgentClaim {
  agentId: string;
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
 * the second gets a ConfigError (its start exits 2) naming RSP_LOCAL_AGENT_ID.
 */
export async function claimLocalAgent(dataSource: DataSource, setting: LocalAgentSetting, logger: Logger): Promise<LocalAgentClaim> {
  const agentId = setting.configured ?? (setting.replicated ? await defaultLocalAgentId(dataSource) : 'local');
  const unlocked = setting.embedded || (!setting.replicated && !setting.configured);
  if (unlocked) return { agentId, release: async () => undefined };
  const runner: QueryRunner = dataSource.createQueryRunner();
  await runner.connect();
  let locked = false;
  try {
    const rows = (await runner.query(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS "locked"`, [LOCK_CLASS, agentId])) as Array<{ locked: boolean }>;
    locked = rows[0]?.locked === true;
  } finally {
    if (!locked) await runner.release();
  }
  if (!locked) {
    throw new ConfigError([
      {
        variable: 'RSP_LOCAL_AGENT_ID',
        problem: `another gateway on this database already serves the in-process agent "${agentId}" (it holds its lock): give each gateway replica its own RSP_LOCAL_AGENT_ID`,
      },
    ]);
  }
  logger.info({ agent: agentId }, 'claimed the in-process agent id');
  return {
    agentId,
    release: async () => {
      await runner.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [LOCK_CLASS, agentId]).catch(() => undefined);
      await runner.release();
    },
  };
}

/** Hosts registered with `agent: local` before local agents had stable ids are served by `agentId` from now on. */
export async function adoptLegacyLocalHosts(dataSource: DataSource, agentId: string): Promise<number> {
  if (agentId === 'local') return 0;
  const [, affected] = (await dataSource.query(`UPDATE "host" SET "agent" = $1 WHERE "agent" = 'local'`, [agentId])) as [unknown, number];
  return affected ?? 0;
}
