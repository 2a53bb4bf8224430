import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { createTestDatabase, TestDatabase } from './databases';
import { startTestGateway, TestGateway } from './gateway';
import { buildWorld, World } from './scenario';

/** A busybox web server answering `hello-<name>` on port 8080, its page on the /tmp tmpfs (the root may be read-only). */
export const httpd = (name: string) => ['sh', '-c', `mkdir -p /tmp/www && echo hello-${name} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`];

/** A busybox web server on port 8080 serving `/blob`, `mib` MiB of zeros, from the /tmp tmpfs (the bandwidth suites' transfer). */
export const blobServer = (mib: number) => ['sh', '-c', `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1M count=${mib} 2>/dev/null && exec httpd -f -p 8080 -h /tmp/www`];

/** The host's address towards its outside: the source of its default route (a routing-table lookup, nothing is sent). */
export function outsideAddress(): string {
  return /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(execFileSync('ip', ['-4', 'route', 'get', '192.0.2.1'], { encoding: 'utf8' }))![1]!;
}

/** RSP's DNAT rules (PREROUTING, OUTPUT) forwarding a host port (LXC's and libvirt's published ports), in iptables or (family 6) ip6tables. */
export function forwardsOf(hostPort: number, family: 4 | 6 = 4): string[] {
  return execFileSync(family === 6 ? 'ip6tables' : 'iptables', ['-w', '-t', 'nat', '-S'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`--dport ${hostPort} `) && l.includes('rsp-port:'));
}

/** GETs a URL from this process (the host); the body, or the error's message. */
export function fetchText(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(`error: ${e.message}`));
  });
}

/**
 * A gateway on one real driver with a busybox image and a host address range, and environments of
 * group A on host 1 by name: started, exec'd in, destroyed (the networking suites of each driver).
 */
export class NamedEnvironments {
  /** Environment ids by name, of those not destroyed yet. */
  readonly ids = new Map<string, string>();

  private constructor(
    readonly db: TestDatabase,
    readonly t: TestGateway,
    readonly w: World,
    readonly image: string,
  ) {}

  /** Starts the gateway with only `driver`, host 1's range `addressRange` (and IPv6 range `ipv6Range`, when given), and uploads the busybox image. */
  static async start(driver: string, addressRange: string, ipv6Range?: string): Promise<NamedEnvironments> {
    const db = await createTestDatabase('pglite');
    const t = await startTestGateway(db, { RSP_DRIVERS: driver });
    const w = await buildWorld(t, { addressRange, ...(ipv6Range ? { ipv6Range } : {}) });
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: driver } })).registerImage.id as string;
    const uploaded = await t.upload(image, await readFile(await buildBusyboxRootfs()));
    if (uploaded.status !== 200) throw new Error(`busybox upload answered ${uploaded.status}: ${JSON.stringify(uploaded.body)}`);
    return new NamedEnvironments(db, t, w, image);
  }

  /** The createEnvironment input of environment `name` (group A, host 1, the busybox image). */
  createInput(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { groupId: this.w.groupA, hostId: this.w.host1, imageId: this.image, name, ...extra };
  }

  /** Creates and starts environment `name`; its id. */
  async running(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const { createEnvironment } = await this.t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: this.createInput(name, extra) });
    const id = createEnvironment.environment.id as string;
    this.ids.set(name, id);
    await this.follow(createEnvironment.operation.id);
    await this.follow((await this.t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment.id);
    return id;
  }

  /** Destroys environment `name`. */
  async destroy(name: string): Promise<void> {
    const id = this.ids.get(name)!;
    this.ids.delete(name);
    await this.follow((await this.t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment.id);
  }

  /** Runs a command in an environment. */
  async exec(id: string, command: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return (await this.t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout stderr } }', { id, c: command })).execEnvironment;
  }

  /**
   * Bits per second of one download of `mib` MiB from `url` in environment `from`, timed inside it
   * (its /proc/uptime before and after `wget`): the bandwidth suites' measurement.
   */
  async downloadRate(from: string, url: string, mib: number): Promise<number> {
    // The URL goes to the script as its argument ($1), never into the script's text.
    const r = await this.exec(from, ['sh', '-c', 'a=$(cut -d" " -f1 /proc/uptime); wget -qO /dev/null "$1" || exit 9; b=$(cut -d" " -f1 /proc/uptime); echo $a $b', 'sh', url]);
    expect(r.exitCode).toBe(0);
    const [a, b] = r.stdout.trim().split(' ').map(Number);
    return (mib * 1024 * 1024 * 8) / Math.max(0.01, b! - a!);
  }

  /** An environment's addresses. */
  async addresses(id: string): Promise<Array<{ address: string; prefix: number; family: string; interface: string }>> {
    return (await this.t.ok('query ($id: ID!) { environment(id: $id) { addresses { address prefix family interface } } }', { id })).environment.addresses;
  }

  /** Destroys what is left, stops the gateway, drops the database. */
  async close(): Promise<void> {
    for (const name of [...this.ids.keys()]) await this.destroy(name).catch(() => undefined);
    await this.t.close();
    await this.db.drop();
  }

  /** Waits for an operation, which must succeed. */
  async follow(operationId: string): Promise<void> {
    const op = await this.t.gateway.services.operations.settled(operationId);
    expect({ state: op.state, error: op.errorMessage }).toEqual({ state: 'SUCCEEDED', error: null });
  }
}
