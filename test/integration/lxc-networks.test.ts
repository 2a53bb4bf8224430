import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bridgeName } from '../../drivers/host/bridges';
import { shapedInterfaces } from '../../drivers/host/shaping';
import { DEFAULT_DNS_DIR } from '../../drivers/lxc/dns';
import { containerName } from '../../drivers/lxc/names';
import { describeWithEngine } from '../helpers/engines';
import { blobServer, fetchText, forwardsOf, httpd, NamedEnvironments, outsideAddress } from '../helpers/named-environments';
import { createIpv6Outside, type Ipv6Outside } from '../helpers/ipv6-outside';
import { until } from '../helpers/until';

/**
 * LXC environments on RSP's managed network through the gateway, in real containers (issue 24):
 * addresses of the host's range on a bridge the driver makes, reachable from another environment
 * and from the host, kept across restart; names answered by the bridge's name server; egress
 * masqueraded (reached here: the host's own outside address only); the bridge, its rules and its
 * name server go with the last environment. A published port answers on the host's address; the
 * root filesystem is read-only by default.
 */

/** The iptables and ip6tables rules (filter and nat tables) that name the bridge. */
function rulesOf(bridge: string): string[] {
  const rules = (tool: string, tables: string[]) => tables.flatMap((t) => execFileSync(tool, ['-t', t, '-S'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(bridge)));
  return [...rules('iptables', ['filter', 'nat']), ...rules('ip6tables', ['filter', 'nat'])];
}
describeWithEngine('lxc', 'lxc environments: addresses of the host range on a managed bridge, published ports, read-only root', () => {
  const subnet = `10.125.${randomInt(256)}`;
  /** The host's IPv6 /64 (its fourth group 0): `${prefix6}::2` is the address of index 2. */
  const prefix6 = `fd7d:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}`;
  let n: NamedEnvironments;
  let outside: Server | undefined;
  /** An IPv6 outside of the host (a network namespace with no route to the environments' range). */
  let o: Ipv6Outside;

  beforeAll(async () => {
    o = await createIpv6Outside('lx');
    n = await NamedEnvironments.start('lxc', `${subnet}.0/29`, `${prefix6}::/64`);
  }, 120_000);
  afterAll(async () => {
    outside?.close();
    await o?.close();
    await n?.close();
  }, 120_000);

  test('each environment gets its own address and answers on it, from another environment and from the host, by name too; egress masqueraded; kept across restart; the bridge, its rules and its name server go with the last one', async () => {
    const web = await n.running('web', { command: httpd('web') });
    const client = await n.running('client');
    const [a] = await n.addresses(web);
    expect(a).toEqual({ address: `${subnet}.2`, prefix: 29, family: 'IPv4', interface: expect.stringMatching(/^rsp-/) });
    expect((await n.addresses(client))[0]).toMatchObject({ address: `${subnet}.3`, prefix: 29 });
    const bridge = bridgeName(a.interface);
    expect(existsSync(`/sys/class/net/${bridge}/bridge`)).toBe(true);
    expect((await n.exec(web, ['ip', '-4', 'addr'])).stdout).toContain(`inet ${subnet}.2/29`);
    expect(await until('web answering the client', async () => (await n.exec(client, ['wget', '-qO-', `http://${subnet}.2:8080/`])).stdout === 'hello-web\n', 30_000)).toBe(true);
    expect(await until('web answering the host', async () => (await fetchText(`http://${subnet}.2:8080/`)) === 'hello-web\n', 30_000)).toBe(true);
    // IPv6: of the host's /64, the same index as the IPv4 address; the bridge holds ::1.
    expect((await n.addresses(web))[1]).toEqual({ address: `${prefix6}::2`, prefix: 64, family: 'IPv6', interface: a.interface });
    expect((await n.addresses(client))[1]).toMatchObject({ address: `${prefix6}::3`, family: 'IPv6' });
    expect(execFileSync('ip', ['-6', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' })).toContain(`inet6 ${prefix6}::1/64`);
    expect((await n.exec(web, ['ip', '-6', 'addr'])).stdout).toContain(`inet6 ${prefix6}::2/64`);
    expect(await until('web answering the client over IPv6', async () => (await n.exec(client, ['timeout', '5', 'wget', '-qO-', `http://[${prefix6}::2]:8080/`])).stdout === 'hello-web\n', 30_000)).toBe(true);
    expect(await until('web answering the host over IPv6', async () => (await fetchText(`http://[${prefix6}::2]:8080/`)) === 'hello-web\n', 30_000)).toBe(true);

    // Names: the bridge's name server (the gateway, in resolv.conf) answers the environments' hostnames.
    expect((await n.exec(client, ['cat', '/etc/resolv.conf'])).stdout).toBe(`nameserver ${subnet}.1\n`);
    expect(await until('web answering the client by name', async () => (await n.exec(client, ['wget', '-qO-', 'http://web:8080/'])).stdout === 'hello-web\n', 30_000)).toBe(true);
    expect((await n.exec(web, ['nslookup', 'client'])).stdout).toContain(`Address: ${subnet}.3`);

    // Egress: forwarded and masqueraded out of the bridge; an environment reaches the host's outside address through its gateway.
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('1');
    expect(rulesOf(bridge)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`-A POSTROUTING -s ${subnet}\\.0/29 ! -o ${bridge} .*-j MASQUERADE`)), expect.stringMatching(new RegExp(`-A FORWARD -i ${bridge} ! -o ${bridge} .*-j ACCEPT`))]));
    outside = createServer((_, res) => res.end('hello-outside\n'));
    await new Promise<void>((resolve) => outside!.listen(0, outsideAddress(), resolve));
    const port = (outside.address() as AddressInfo).port;
    expect((await n.exec(client, ['wget', '-qO-', `http://${outsideAddress()}:${port}/`])).stdout).toBe('hello-outside\n');
    // IPv6 egress: masqueraded behind the host's address (NAT66) for the unique local range; the outside has no route back to it.
    expect(rulesOf(bridge)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`-A POSTROUTING -s ${prefix6}::/64 ! -o ${bridge} .*-j MASQUERADE`))]));
    const port6 = 20000 + randomInt(20000);
    await o.serve(port6, 'hello-outside6\n');
    expect((await n.exec(client, ['timeout', '5', 'wget', '-qO-', `http://[${o.outsideAddress}]:${port6}/`])).stdout).toBe('hello-outside6\n');

    await n.follow((await n.t.ok('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: client })).restartEnvironment.id);
    expect((await n.exec(client, ['ip', '-4', 'addr'])).stdout).toContain(`inet ${subnet}.3/29`);
    expect((await n.exec(client, ['ip', '-6', 'addr'])).stdout).toContain(`inet6 ${prefix6}::3/64`);

    await n.destroy('web');
    expect(existsSync(`/sys/class/net/${bridge}/bridge`)).toBe(true);
    expect(readFileSync(`${DEFAULT_DNS_DIR}/${bridge}/hosts`, 'utf8')).toBe(`${subnet}.3\tclient\n`);
    await n.destroy('client');
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    expect(rulesOf(bridge)).toEqual([]);
    expect(existsSync(`${DEFAULT_DNS_DIR}/${bridge}`)).toBe(false);
  }, 180_000);

  test("a published port answers on the host's address, IPv4 and IPv6; another environment is refused that host port; the forwarding goes at stop and destroy", async () => {
    const hostPort = 20000 + randomInt(20000);
    const pub = await n.running('pub', { command: httpd('pub'), ports: [{ hostPort, port: 8080 }] });
    const url = `http://${outsideAddress()}:${hostPort}/`;
    expect(await until(`${url} answering`, async () => (await fetchText(url)) === 'hello-pub\n', 30_000)).toBe(true);
    expect(forwardsOf(hostPort)).toHaveLength(2);
    // The same on the host's IPv6 addresses, towards the environment's IPv6 address: from the outside and from the host itself.
    expect(forwardsOf(hostPort, 6)).toHaveLength(2);
    const url6 = `http://[${o.hostAddress}]:${hostPort}/`;
    expect(await until(`${url6} answering the outside`, async () => (await o.fetch(url6)) === 'hello-pub\n', 30_000)).toBe(true);
    expect(await fetchText(url6)).toBe('hello-pub\n');
    const taken = await n.t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: n.createInput('pub2', { ports: [{ hostPort, port: 80 }] }) });
    expect(taken.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', details: { reason: 'HOST_PORT_TAKEN', hostPort } } });

    await n.follow((await n.t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id: pub })).stopEnvironment.id);
    expect(forwardsOf(hostPort)).toEqual([]);
    expect(forwardsOf(hostPort, 6)).toEqual([]);
    await n.follow((await n.t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: pub })).startEnvironment.id);
    expect(await until(`${url} answering again`, async () => (await fetchText(url)) === 'hello-pub\n', 30_000)).toBe(true);
    await n.destroy('pub');
    expect(forwardsOf(hostPort)).toEqual([]);
    expect(forwardsOf(hostPort, 6)).toEqual([]);
  }, 60_000);

  test('the root filesystem is read-only by default (volumes, /tmp and /run writable), writable when asked; a rebuild keeps only the volumes', async () => {
    const ro = await n.running('ro', { volumes: [{ name: 'data', mountPath: '/data' }] });
    expect((await n.t.ok('query ($id: ID!) { environment(id: $id) { iface { readOnlyRoot } } }', { id: ro })).environment.iface.readOnlyRoot).toBe(true);
    const outside = await n.exec(ro, ['sh', '-c', 'echo x > /marker']);
    expect(outside.exitCode).not.toBe(0);
    expect(outside.stderr).toMatch(/read-only/i);
    expect(await n.exec(ro, ['sh', '-c', 'echo kept > /data/kept && cat /data/kept && echo t > /tmp/t && echo r > /run/r'])).toMatchObject({ exitCode: 0, stdout: 'kept\n' });
    const rw = await n.running('rw', { readOnlyRoot: false });
    expect(await n.exec(rw, ['sh', '-c', 'echo x > /marker && cat /marker'])).toMatchObject({ exitCode: 0, stdout: 'x\n' });

    await n.follow((await n.t.ok('mutation ($id: ID!) { rebuildEnvironment(id: $id, limits: { pids: 128 }) { id } }', { id: ro })).rebuildEnvironment.id);
    expect((await n.exec(ro, ['cat', '/data/kept'])).stdout).toBe('kept\n');
    expect((await n.exec(ro, ['sh', '-c', 'echo x > /marker'])).exitCode).not.toBe(0);
    await n.destroy('ro');
    await n.destroy('rw');
  }, 60_000);

  test('a bandwidth cap holds both ways on a real transfer between two environments (tbf on the veth, its sent traffic through an ifb)', async () => {
    const bits = 16_000_000;
    const mib = 6;
    const serve = blobServer(mib);
    const peer = await n.running('peer', { command: serve });
    const capped = await n.running('capped', { command: serve, limits: { networkBitsPerSecond: bits } });
    expect((await n.t.ok('query ($id: ID!) { environment(id: $id) { limits { networkBitsPerSecond } } }', { id: capped })).environment.limits.networkBitsPerSecond).toBe(bits);
    const [peerAt, cappedAt] = [(await n.addresses(peer))[0].address, (await n.addresses(capped))[0].address];
    for (const [from, to] of [[capped, peerAt], [peer, cappedAt]] as const) {
      expect(await until(`${to} serving`, async () => (await n.exec(from, ['wget', '-q', '--spider', `http://${to}:8080/blob`])).exitCode === 0, 30_000)).toBe(true);
    }
    const rate = (from: string, to: string) => n.downloadRate(from, `http://${to}:8080/blob`, mib);
    const received = await rate(capped, peerAt);
    const sent = await rate(peer, cappedAt);
    console.log(`bandwidth cap ${bits / 1e6} Mbit/s (lxc): received ${(received / 1e6).toFixed(1)} Mbit/s (${((received / bits) * 100).toFixed(0)} %), sent ${(sent / 1e6).toFixed(1)} Mbit/s (${((sent / bits) * 100).toFixed(0)} %)`);
    // The cap binds both ways (a busy machine can only make a transfer slower, never faster).
    expect(received).toBeLessThanOrEqual(bits * 1.2);
    expect(sent).toBeLessThanOrEqual(bits * 1.2);

    // This environment's own ifb (other suites shape their environments through ifbs at the same time).
    const { ifb } = shapedInterfaces(containerName(capped));
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(true);
    await n.destroy('capped');
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
    await n.destroy('peer');
  }, 90_000);
});
