import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * An IPv6 "outside" of the host for tests: a network namespace linked to the root one by a veth
 * pair on a unique local /64 of its own (the root side `hostAddress`, the namespace's side
 * `outsideAddress`), with no route back to any other range — so that what reaches it from an
 * environment's range came masqueraded behind `hostAddress`.
 */
export interface Ipv6Outside {
  ns: string;
  /** The root namespace's address on the link: one of the host's own IPv6 addresses. */
  hostAddress: string;
  /** The namespace's address. */
  outsideAddress: string;
  /** Serves `body` over HTTP on `[outsideAddress]:port` in the namespace; resolves once it listens. */
  serve(port: number, body: string): Promise<void>;
  /** What `url` answers when asked from inside the namespace (`error: …` when it fails). */
  fetch(url: string): Promise<string>;
  /** Stops its servers and deletes the namespace (with its veth pair). */
  close(): Promise<void>;
}

/** Makes an `Ipv6Outside` named after `tag` (a few letters). */
export async function createIpv6Outside(tag: string): Promise<Ipv6Outside> {
  const pid36 = process.pid.toString(36);
  const ns = `rspt-${process.pid}-${tag}6`;
  const veth = `r6${pid36}${tag}`.slice(0, 15);
  const prefix = `fd7a:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}`;
  const hostAddress = `${prefix}::1`;
  const outsideAddress = `${prefix}::2`;
  const servers: ChildProcess[] = [];
  const inNs = (args: string[]) => run('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  const close = async () => {
    for (const s of servers) s.kill();
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await run('ip', ['link', 'del', veth]).catch(() => undefined);
  };
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run('ip', ['-6', 'addr', 'add', `${hostAddress}/64`, 'dev', veth, 'nodad']);
    await run('ip', ['link', 'set', veth, 'up']);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    await inNs(['ip', '-6', 'addr', 'add', `${outsideAddress}/64`, 'dev', 'eth0', 'nodad']);
    await inNs(['ip', 'link', 'set', 'eth0', 'up']);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    ns,
    hostAddress,
    outsideAddress,
    async serve(port, body) {
      const script = `require('node:http').createServer((_, res) => res.end(${JSON.stringify(body)})).listen(${port}, ${JSON.stringify(outsideAddress)}, () => console.log('listening'))`;
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the server in ${ns} ended (${code}) before listening`)));
        createInterface({ input: child.stdout! }).once('line', () => resolve());
      });
    },
    async fetch(url) {
      const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).then((t) => process.stdout.write(t))`;
      return inNs([process.execPath, '-e', script, url]).then(
        (r) => r.stdout,
        (e: Error) => `error: ${e.message}`,
      );
    },
    close,
  };
}
