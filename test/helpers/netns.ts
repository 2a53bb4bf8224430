import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The documentation range test namespaces take their /28 from; blackholed in the root namespace. */
export const TEST_RANGE = '198.51.100.0/24';

/** Every name this helper makes starts with this (namespaces `rspt-<pid>-<tag>-<node>`, root links `rt<pid36><tag>`). */
const PREFIX = 'rspt-';

/** One machine of the lab: a network namespace with `eth0` on the lab's bridge. */
export interface LabNode {
  name: string;
  /** The namespace (`ip netns exec <ns> …`). */
  ns: string;
  /** Its address on the lab network. */
  address: string;
  /** The command prefix that runs a program inside it. */
  exec: string[];
}

/** A private network of namespaces on one bridge; see `createLab`. */
export interface NetnsLab {
  /** The lab's /28, e.g. `198.51.100.16/28`. */
  subnet: string;
  /** The root namespace's address on the lab network (a gateway running in the root namespace is reached there). */
  rootAddress: string;
  nodes: Record<string, LabNode>;
  /** Drops every packet in and out of `node`'s veth (an nftables rule in its namespace); the link stays up. */
  cut(node: string): Promise<void>;
  /** Removes the drop rule of `cut`. */
  restore(node: string): Promise<void>;
  /** Deletes the namespaces and links of this lab (idempotent; also after a failed setup). */
  teardown(): Promise<void>;
}

async function ip(args: string[]): Promise<string> {
  return (await run('ip', args, { encoding: 'utf8' })).stdout;
}

async function inNs(ns: string, file: string, args: string[], input?: string): Promise<void> {
  if (input === undefined) {
    await run('ip', ['netns', 'exec', ns, file, ...args]);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, file, ...args], (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(input);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the namespaces (and with them their veth pairs) of earlier runs whose process is gone,
 * e.g. a test run killed before its teardown. Labs of live processes are left alone.
 */
export async function cleanLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const line of (await ip(['netns', 'list'])).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const pid = /^rspt-(\d+)-/.exec(ns)?.[1];
    if (!pid || alive(Number(pid))) continue;
    await ip(['netns', 'del', ns]).catch(() => undefined);
    removed.push(ns);
  }
  return removed;
}

/** The /28s of TEST_RANGE routed in the root namespace now (labs of other runs); refuses a range the machine uses otherwise. */
async function takenSubnets(): Promise<Set<number>> {
  const taken = new Set<number>();
  for (const line of (await ip(['-4', 'route', 'show', 'table', 'all'])).split('\n')) {
    const m = /^(?:\S+\s+)?(198\.51\.100\.\d+)(\/\d+)?\s/.exec(line.replace(/^(blackhole|local|broadcast)\s+/, ''));
    if (!m) continue;
    if (line.startsWith(`blackhole ${TEST_RANGE}`)) continue;
    if (!/\bdev rt[0-9a-z]+\b/.test(line)) throw new Error(`the machine routes ${m[1]}${m[2] ?? ''} itself (${line.trim()}): the lab's range ${TEST_RANGE} is not free`);
    taken.add(Math.floor(Number(m[1]!.split('.')[3]) / 16));
  }
  return taken;
}

/**
 * Builds a lab: a bridge `br0` in its own namespace, one namespace per node with a veth pair
 * (`eth0` inside, the other end on the bridge), addresses from a free /28 of 198.51.100.0/24, and
 * a veth from the root namespace onto the bridge (the root gets the /28's first address, so a
 * process here — a gateway — is reachable from the nodes). `198.51.100.0/24` is blackholed in the
 * root namespace: a lab packet never reaches the machine's real network. Names carry this process's
 * id, so `cleanLeftovers` can tell a crashed run's leftovers from a running lab.
 */
export async function createLab(nodeNames: string[]): Promise<NetnsLab> {
  if (nodeNames.length > 12) throw new Error('a lab holds at most 12 nodes (one /28)');
  await cleanLeftovers();
  const tag = randomBytes(2).toString('hex');
  const base = `${PREFIX}${process.pid}-${tag}`;
  const bridgeNs = `${base}-br`;
  const rootLink = `rt${process.pid.toString(36)}${tag}`;
  const created: string[] = [];
  const teardown = async () => {
    for (const ns of created.splice(0).reverse()) await ip(['netns', 'del', ns]).catch(() => undefined);
    await ip(['link', 'del', rootLink]).catch(() => undefined);
  };
  try {
    await ip(['route', 'replace', 'blackhole', TEST_RANGE]);
    const taken = await takenSubnets();
    const slot = [...Array(16).keys()].find((i) => !taken.has(i));
    if (slot === undefined) throw new Error(`every /28 of ${TEST_RANGE} is in use by other labs`);
    const net = slot * 16;
    const addr = (n: number) => `198.51.100.${net + n}`;

    await ip(['netns', 'add', bridgeNs]);
    created.push(bridgeNs);
    await ip(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    await ip(['-n', bridgeNs, 'link', 'set', 'lo', 'up']);

    // The root namespace's leg: rootLink here, `vroot` on the bridge.
    await ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'vroot', 'netns', bridgeNs]);
    await ip(['-n', bridgeNs, 'link', 'set', 'vroot', 'master', 'br0', 'up']);
    await ip(['addr', 'add', `${addr(1)}/28`, 'dev', rootLink]);
    await ip(['link', 'set', rootLink, 'up']);

    const nodes: Record<string, LabNode> = {};
    for (const [i, name] of nodeNames.entries()) {
      if (!/^[a-z0-9]{1,8}$/.test(name)) throw new Error(`lab node name "${name}": a-z, 0-9, at most 8`);
      const ns = `${base}-${name}`;
      await ip(['netns', 'add', ns]);
      created.push(ns);
      const address = addr(2 + i);
      await ip(['-n', bridgeNs, 'link', 'add', `v${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['-n', bridgeNs, 'link', 'set', `v${name}`, 'master', 'br0', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${address}/28`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      nodes[name] = { name, ns, address, exec: ['ip', 'netns', 'exec', ns] };
    }
    const node = (name: string) => {
      const n = nodes[name];
      if (!n) throw new Error(`no lab node "${name}"`);
      return n;
    };
    return {
      subnet: `${addr(0)}/28`,
      rootAddress: addr(1),
      nodes,
      async cut(name) {
        const rules = ['table inet rsp_cut {', '  chain in { type filter hook input priority -500; iifname "eth0" drop; }', '  chain out { type filter hook output priority -500; oifname "eth0" drop; }', '}', ''];
        await inNs(node(name).ns, 'nft', ['-f', '-'], rules.join('\n'));
      },
      async restore(name) {
        await inNs(node(name).ns, 'nft', ['delete', 'table', 'inet', 'rsp_cut']);
      },
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}

/** Whether this machine can build labs: root, `ip netns`, nft; the reason when not. */
export function labSupport(): { available: boolean; detail: string } {
  if (process.getuid?.() !== 0) return { available: false, detail: 'network namespaces need root' };
  const version = (file: string, args: string[]) => {
    try {
      return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
    } catch {
      return undefined;
    }
  };
  const ipVersion = version('ip', ['-V']);
  if (!ipVersion) return { available: false, detail: 'ip not found (apt-get install iproute2)' };
  const nft = version('nft', ['--version']);
  if (!nft) return { available: false, detail: 'nft not found (apt-get install nftables)' };
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], { input: 'table inet p {\n  chain c { type filter hook output priority 0; oifname "lo" drop; }\n}\n', stdio: 'pipe' });
  } catch (e) {
    return { available: false, detail: `cannot make a namespace with an nftables drop rule: ${((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()}` };
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
    } catch {
      // It was never made.
    }
  }
  return { available: true, detail: `${ipVersion}, ${nft}, namespaces with nftables drop rules` };
}
