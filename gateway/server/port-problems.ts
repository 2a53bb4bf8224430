import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import type { ConfigProblem, GatewayConfig } from '../config/config';

/** Why a port cannot be listened on, as `ConfigProblem.code`. */
export type PortProblemCode = 'PORT_IN_USE' | 'PORT_NOT_ALLOWED' | 'ADDRESS_NOT_AVAILABLE' | 'PORT_CONFLICT' | 'PORT_UNAVAILABLE';

/**
 * The problems of the ports `rsp serve` would listen on (PORT, and RSP_HEALTH_PORT when set), each
 * taken for a moment and let go: in use (naming the process that holds it, when this user may
 * see it), not allowed, an address of no interface, or both settings on one port. Empty when
 * every port would do. Said by `rsp config check` and by `rsp serve` before anything is opened.
 */
export async function listenPortProblems(config: Pick<GatewayConfig, 'host' | 'port' | 'healthPort'>): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const gateway = await portProblem(config.host, config.port);
  if (gateway) problems.push({ variable: 'PORT', ...gateway });
  if (config.healthPort === undefined) return problems;
  if (config.healthPort !== 0 && config.healthPort === config.port) {
    problems.push({ variable: 'RSP_HEALTH_PORT', code: 'PORT_CONFLICT', problem: `is PORT (${config.port}): the health checks need a port of their own (or unset RSP_HEALTH_PORT)` });
    return problems;
  }
  const health = await portProblem(config.host, config.healthPort);
  if (health) problems.push({ variable: 'RSP_HEALTH_PORT', ...health });
  return problems;
}

/**
 * Takes `port` on `host` for a moment and lets it go: the problem of a port the gateway could not
 * listen on (in use, privileged, an address of no interface) and its code, or undefined. Port 0
 * (a free one) is tried too, for the address.
 */
export async function portProblem(host: string, port: number): Promise<{ code: PortProblemCode; problem: string } | undefined> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port, host, backlog: 1 }, () => resolve());
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      const holder = portHolder(port);
      return { code: 'PORT_IN_USE', problem: `${host}:${port} is in use by ${holder ?? 'another process (another gateway?)'}: stop it, or choose another port (0 picks a free one)` };
    }
    if (code === 'EACCES') return { code: 'PORT_NOT_ALLOWED', problem: `not allowed to listen on ${host}:${port} (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose a port from 1024` };
    if (code === 'EADDRNOTAVAIL') return { code: 'ADDRESS_NOT_AVAILABLE', problem: `${host} is no address of this machine (RSP_HOST; 0.0.0.0 listens on every interface)` };
    return { code: 'PORT_UNAVAILABLE', problem: `cannot listen on ${host}:${port}: ${(e as Error).message}` };
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return undefined;
}

/** TCP state LISTEN in /proc/net/tcp. */
const LISTEN = '0A';

/**
 * Who listens on TCP `port`, as far as Linux lets this user see (`/proc/net/tcp*` for the socket,
 * `/proc/<pid>/fd` for its process): `process 1234 (node)`, else `a process of user 1000`, else
 * undefined (another platform, or nothing found). The process's name only, never its command
 * line (which may hold secrets).
 */
export function portHolder(port: number, procRoot = '/proc'): string | undefined {
  const inodes = new Map<string, number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      if (parseInt(fields[1].slice(fields[1].lastIndexOf(':') + 1), 16) !== port) continue;
      inodes.set(`socket:[${fields[9]}]`, Number(fields[7]));
    }
  }
  if (!inodes.size) return undefined;
  let pids: string[] = [];
  try {
    pids = readdirSync(procRoot).filter((name) => /^\d+$/.test(name));
  } catch {
    // No process table to read: the user is what is known.
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // Another user's process, or gone.
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!inodes.has(target)) continue;
      let name = '';
      try {
        name = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
      } catch {
        // Gone meanwhile: its pid is still the answer.
      }
      return `process ${pid}${name ? ` (${name})` : ''}`;
    }
  }
  const [uid] = inodes.values();
  return `a process of user ${uid}`;
}
