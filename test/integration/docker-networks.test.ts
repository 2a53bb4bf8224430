import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import Docker from 'dockerode';
import { resolveDockerConfig } from '../../drivers/docker';
import { shapedInterfaces } from '../../drivers/host/shaping';
import { describeWithEngine } from '../helpers/engines';
import { blobServer, fetchText, httpd, NamedEnvironments } from '../helpers/named-environments';
import { createIpv6Outside, type Ipv6Outside } from '../helpers/ipv6-outside';
import { until } from '../helpers/until';

/** The host's first non-loopback IPv4 address (a published port answers there), else loopback. */
function hostAddress(): string {
  const found = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith('172.17.'));
  return found?.address ?? '127.0.0.1';
}

/**
 * Networks of environments through the gateway on a real Docker engine (issue 24): addresses of
 * the host's range (a /29: five addresses), reachable from another environment and from the
 * host; published ports; a read-only root by default; a bandwidth cap measured on a transfer.
 */
describeWithEngine('docker', 'docker environments: addresses, published ports, read-only root', () => {
  const subnet = `10.126.${randomInt(256)}`;
  /** The host's IPv6 /64 (its fourth group 0): `${prefix6}::2` is the address of index 2. */
  const prefix6 = `fd7e:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}`;
  const hostPort = 20000 + randomInt(20000);
  let n: NamedEnvironments;
  /** An IPv6 outside of the host (a network namespace with no route to the environments' range). */
  let o: Ipv6Outside;

  beforeAll(async () => {
    o = await createIpv6Outside('dk');
    n = await NamedEnvironments.start('docker', `${subnet}.0/29`, `${prefix6}::/64`);
  }, 120_000);
  afterAll(async () => {
    await n?.close();
    await o?.close();
  }, 120_000);

  test("each environment gets its own address of the host's range and answers on it, from another environment and from the host", async () => {
    expect((await n.t.ok('query ($id: ID!) { host(id: $id) { addressRange } }', { id: n.w.host1 })).host.addressRange).toBe(`${subnet}.0/29`);
    const web = await n.running('web', { command: httpd('web') });
    const client = await n.running('client');
    const [a] = await n.addresses(web);
    const [b] = await n.addresses(client);
    expect(a).toEqual({ address: `${subnet}.2`, prefix: 29, family: 'IPv4', interface: expect.stringMatching(/^rsp-/) });
    expect(b).toMatchObject({ address: `${subnet}.3`, prefix: 29 });
    expect((await n.exec(web, ['ip', '-4', 'addr'])).stdout).toContain(`inet ${subnet}.2/29`);
    // Its IPv6 address: of the host's /64, the same index as its IPv4 one.
    expect((await n.t.ok('query ($id: ID!) { host(id: $id) { ipv6Range } }', { id: n.w.host1 })).host.ipv6Range).toBe(`${prefix6}::/64`);
    expect((await n.addresses(web))[1]).toEqual({ address: `${prefix6}::2`, prefix: 64, family: 'IPv6', interface: a!.interface });
    expect((await n.addresses(client))[1]).toMatchObject({ address: `${prefix6}::3`, family: 'IPv6' });
    expect((await n.exec(web, ['ip', '-6', 'addr'])).stdout).toContain(`inet6 ${prefix6}::2/64`);
    // Environment to environment, on the same host; then the host to the environment.
    const fromClient = await until('web answering the client', async () => (await n.exec(client, ['wget', '-qO-', `http://${subnet}.2:8080/`])).stdout === 'hello-web\n', 30_000);
    expect(fromClient).toBe(true);
    expect(await fetchText(`http://${subnet}.2:8080/`)).toBe('hello-web\n');
    // The same over IPv6 (its address may be tentative a moment: duplicate address detection).
    expect(await until('web answering the client over IPv6', async () => (await n.exec(client, ['timeout', '5', 'wget', '-qO-', `http://[${prefix6}::2]:8080/`])).stdout === 'hello-web\n', 30_000)).toBe(true);
    expect(await until('web answering the host over IPv6', async () => (await fetchText(`http://[${prefix6}::2]:8080/`).catch(() => '')) === 'hello-web\n', 30_000)).toBe(true);
    // The DNS and hostname contract holds on the managed network: the environments resolve each other by hostname.
    expect((await n.exec(client, ['hostname'])).stdout).toBe('client\n');
    expect(await until('web answering the client by name', async () => (await n.exec(client, ['wget', '-qO-', 'http://web:8080/'])).stdout === 'hello-web\n', 30_000)).toBe(true);
    expect((await n.exec(web, ['nslookup', 'client'])).stdout).toContain(`Address: ${subnet}.3`);
  });

  test('a published port answers from the host, IPv4 and IPv6; an environment reaches the outside over IPv6; the same host port is refused to another environment', async () => {
    await n.running('pub', { command: httpd('pub'), ports: [{ hostPort, port: 8080 }], dns: ['192.0.2.53'] });
    expect((await n.exec(n.ids.get('pub')!, ['cat', '/etc/resolv.conf'])).stdout).toBe('nameserver 192.0.2.53\n');
    const url = `http://${hostAddress()}:${hostPort}/`;
    expect(await until(`${url} answering`, async () => (await fetchText(url)) === 'hello-pub\n', 30_000)).toBe(true);
    // The same on the host's IPv6 addresses: loopback, and one the outside reaches.
    expect(await until('the port answering on [::1]', async () => (await fetchText(`http://[::1]:${hostPort}/`)) === 'hello-pub\n', 30_000)).toBe(true);
    const url6 = `http://[${o.hostAddress}]:${hostPort}/`;
    expect(await until(`${url6} answering the outside`, async () => (await o.fetch(url6)) === 'hello-pub\n', 30_000)).toBe(true);
    // IPv6 egress: the unique local range masqueraded behind the host's address (NAT66); the outside has no route back to it.
    expect(execFileSync('ip6tables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'], { encoding: 'utf8' })).toMatch(new RegExp(`-A POSTROUTING -s ${prefix6}::/64 ! -d ${prefix6}::/64 .*-j MASQUERADE`));
    const port6 = 20000 + randomInt(20000);
    await o.serve(port6, 'hello-outside6\n');
    expect((await n.exec(n.ids.get('pub')!, ['timeout', '5', 'wget', '-qO-', `http://[${o.outsideAddress}]:${port6}/`])).stdout).toBe('hello-outside6\n');
    const taken = await n.t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: n.createInput('pub2', { ports: [{ hostPort, port: 80 }] }) });
    expect(taken.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', details: { reason: 'HOST_PORT_TAKEN', hostPort } } });
  });

  test('the root filesystem is read-only by default (volumes, /tmp and /run writable), writable when asked; a rebuild keeps only the volumes', async () => {
    const ro = await n.running('ro', { volumes: [{ name: 'data', mountPath: '/data' }] });
    const outside = await n.exec(ro, ['sh', '-c', 'echo x > /marker']);
    expect(outside.exitCode).not.toBe(0);
    expect(outside.stderr).toMatch(/read-only/i);
    expect(await n.exec(ro, ['sh', '-c', 'echo kept > /data/kept && cat /data/kept && echo t > /tmp/t && echo r > /run/r'])).toMatchObject({ exitCode: 0, stdout: 'kept\n' });
    expect((await n.t.ok('query ($id: ID!) { environment(id: $id) { iface { readOnlyRoot } } }', { id: ro })).environment.iface.readOnlyRoot).toBe(true);
    const rw = await n.running('rw', { readOnlyRoot: false });
    expect(await n.exec(rw, ['sh', '-c', 'echo x > /marker && cat /marker'])).toMatchObject({ exitCode: 0, stdout: 'x\n' });

    // A rebuild keeps only the volumes: the writable root starts afresh, the volume's file stays.
    for (const id of [ro, rw]) await n.follow((await n.t.ok('mutation ($id: ID!) { rebuildEnvironment(id: $id, limits: { pids: 128 }) { id } }', { id })).rebuildEnvironment.id);
    expect((await n.exec(rw, ['ls', '/marker'])).exitCode).not.toBe(0);
    expect((await n.exec(ro, ['cat', '/data/kept'])).stdout).toBe('kept\n');
    expect((await n.exec(ro, ['sh', '-c', 'echo x > /marker'])).exitCode).not.toBe(0);
  });

  test('addresses are never two environments\', are kept across restart and rebuild, come back on destroy; an exhausted range is a clear error', async () => {
    const held = await Promise.all([...n.ids.values()].map(async (id) => (await n.addresses(id))[0].address));
    expect(held.sort()).toEqual([2, 3, 4, 5, 6].map((n) => `${subnet}.${n}`));
    const held6 = await Promise.all([...n.ids.values()].map(async (id) => (await n.addresses(id))[1].address));
    expect(held6.sort()).toEqual([2, 3, 4, 5, 6].map((n) => `${prefix6}::${n}`));
    const full = await n.t.gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: n.createInput('one-too-many') });
    expect(full.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', details: { reason: 'ADDRESS_POOL_EXHAUSTED', addressRange: `${subnet}.0/29` } } });

    const client = n.ids.get('client')!;
    await n.follow((await n.t.ok('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: client })).restartEnvironment.id);
    await n.follow((await n.t.ok('mutation ($id: ID!) { rebuildEnvironment(id: $id, limits: { pids: 64 }) { id } }', { id: client })).rebuildEnvironment.id);
    expect((await n.addresses(client))[0].address).toBe(`${subnet}.3`);
    expect((await n.exec(client, ['ip', '-4', 'addr'])).stdout).toContain(`inet ${subnet}.3/29`);
    expect((await n.addresses(client))[1].address).toBe(`${prefix6}::3`);
    expect((await n.exec(client, ['ip', '-6', 'addr'])).stdout).toContain(`inet6 ${prefix6}::3/64`);

    await n.destroy('web');
    const again = await n.running('again');
    expect((await n.addresses(again))[0].address).toBe(`${subnet}.2`);
    expect((await n.addresses(again))[1].address).toBe(`${prefix6}::2`);

    const network = (await n.addresses(again))[0].interface as string;
    for (const name of [...n.ids.keys()]) await n.destroy(name);
    const engine = new Docker(resolveDockerConfig().connection);
    await expect(engine.getNetwork(network).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Its IPv6 egress rules went with it.
    expect(['nat', 'filter'].flatMap((t) => execFileSync('ip6tables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`${prefix6}::/64`)))).toEqual([]);
  });

  test('a bandwidth cap holds both ways on a real transfer between two environments (tbf on the host end of the veth, its sent traffic through an ifb); set again after a restart', async () => {
    const bits = 16_000_000;
    const mib = 6;
    const peer = await n.running('peer', { command: blobServer(mib) });
    const capped = await n.running('capped', { command: blobServer(mib), limits: { networkBitsPerSecond: bits } });
    expect((await n.t.ok('query ($id: ID!) { environment(id: $id) { limits { networkBitsPerSecond } } }', { id: capped })).environment.limits.networkBitsPerSecond).toBe(bits);
    const [peerAt, cappedAt] = [(await n.addresses(peer))[0].address, (await n.addresses(capped))[0].address];
    for (const [from, to] of [[capped, peerAt], [peer, cappedAt]] as const) {
      expect(await until(`${to} serving`, async () => (await n.exec(from, ['wget', '-q', '--spider', `http://${to}:8080/blob`])).exitCode === 0, 30_000)).toBe(true);
    }
    const received = await n.downloadRate(capped, `http://${peerAt}:8080/blob`, mib);
    const sent = await n.downloadRate(peer, `http://${cappedAt}:8080/blob`, mib);
    console.log(`bandwidth cap ${bits / 1e6} Mbit/s (docker): received ${(received / 1e6).toFixed(1)} Mbit/s (${((received / bits) * 100).toFixed(0)} %), sent ${(sent / 1e6).toFixed(1)} Mbit/s (${((sent / bits) * 100).toFixed(0)} %)`);
    // Within ±20 % both ways: the cap binds, and it is the cap that binds (not a slower path).
    for (const rate of [received, sent]) {
      expect(rate).toBeLessThanOrEqual(bits * 1.2);
      expect(rate).toBeGreaterThanOrEqual(bits * 0.8);
    }

    const [container] = await new Docker(resolveDockerConfig().connection).listContainers({ all: true, filters: { label: [`rsp.environment=${capped}`] } });
    const ifb = shapedInterfaces(container!.Names[0]!.slice(1)).ifb;
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(true);
    await n.follow((await n.t.ok('mutation ($id: ID!) { restartEnvironment(id: $id) { id } }', { id: capped })).restartEnvironment.id);
    expect(execFileSync('tc', ['qdisc', 'show', 'dev', ifb, 'root'], { encoding: 'utf8' })).toMatch(/qdisc tbf .* rate 16Mbit/);
    await n.destroy('capped');
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
    await n.destroy('peer');
  }, 120_000);
});
