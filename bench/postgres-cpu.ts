import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU ticks (user + system) of each PostgreSQL backend serving one database, by process id. */
export type PostgresCpuReading = Map<number, number>;

/**
 * The CPU time used so far by each PostgreSQL backend serving `database` on this machine (those
 * whose process title names it), read from /proc: what the database spends for a bench, a figure
 * that holds on a loaded machine where latencies do not. Empty when the server runs elsewhere.
 */
export async function readPostgresCpu(database: string): Promise<PostgresCpuReading> {
  const reading: PostgresCpuReading = new Map();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const title = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (!title.startsWith('postgres: ') || !title.split(' ').includes(database)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      reading.set(Number(pid), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended meanwhile.
    }
  }
  return reading;
}

/**
 * CPU time (ms) the backends of `database` used since `before`: each backend's own difference, a
 * backend started since counted whole. A backend that exited meanwhile (a pool closing an idle
 * connection) took its time with it: `exited` says how many did, so a bench can say its figure is
 * short (the sum of all backends would otherwise drop and could read negative).
 */
export async function postgresCpuMsSince(before: PostgresCpuReading, database: string): Promise<{ ms: number; exited: number }> {
  const now = await readPostgresCpu(database);
  let ticks = 0;
  for (const [pid, t] of now) ticks += t - (before.get(pid) ?? 0);
  let exited = 0;
  for (const pid of before.keys()) if (!now.has(pid)) exited++;
  return { ms: (ticks * 1000) / TICKS_PER_SECOND, exited };
}
