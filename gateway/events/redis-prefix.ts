import type { DataSource } from 'typeorm';
import { installationId } from '../persistence/installation';

/**
 * The prefix of every Redis key and channel of this installation: RSP_REDIS_PREFIX when set, else
 * `rsp:` and the first 12 hex digits of the installation id (the same for every replica on one
 * database, another for another installation), so installations sharing one Redis never see each
 * other's events, agent directory or relayed calls.
 */
export async function redisPrefix(dataSource: DataSource, configured: string | undefined): Promise<string> {
  return configured ?? `rsp:${(await installationId(dataSource)).slice(0, 12)}:`;
}
