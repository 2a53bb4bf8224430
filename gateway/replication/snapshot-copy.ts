import { randomBytes } from 'node:crypto';
import type { HostAgent } from '../agent/host-agent';
import { UnsupportedOperationError } from '../errors';

/** What a policy with `snapshotBeforeCopy` needs of its environment's driver. */
const NEEDED = ['snapshot', 'deleteSnapshot', 'exportSnapshot'] as const;

/**
 * Checks that `driver` on the agent's host can export from a snapshot (it advertises
 * `exportSnapshot` with the snapshot operations); UNSUPPORTED_OPERATION naming the driver otherwise.
 */
export async function requireSnapshotExport(agent: HostAgent, driver: string): Promise<void> {
  const report = (await agent.drivers()).find((d) => d.name === driver);
  const operations: readonly string[] = report?.capabilities.operations ?? [];
  const missing = NEEDED.filter((op) => !operations.includes(op));
  if (missing.length) throw new UnsupportedOperationError('snapshot before copy', `driver ${driver}`, `it does not offer ${missing.join(', ')}; turn snapshotBeforeCopy off for this environment`);
}

/** The name of a replication run's own snapshot (deleted again once the run exported it). */
export function runSnapshotName(): string {
  return `rsp-replication-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
