import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { get } from 'node:http';
import { connect } from 'node:net';
import { basename } from 'node:path';
import { LibvirtDriver } from '../../drivers/libvirt';
import { PortForwards } from '../../drivers/host/port-forwards';
import { shapedInterfaces, VethShaping } from '../../drivers/host/shaping';
import { libvirtBridgeName } from '../../drivers/libvirt/networks';
import { BUSYBOX } from '../fixtures/busybox-rootfs';
import { describeWithEngine } from '../helpers/engines';
import { createIpv6Outside, type Ipv6Outside } from '../helpers/ipv6-outside';
import { guestKernel, hypervisorReadableDir, makeBaseImage, NETWORK_GUEST_INIT, qemuGuestDriver, VIRTIO_NET_MODULES } from '../helpers/libvirt';
import { fetchText, forwardsOf, outsideAddress } from '../helpers/named-environments';
import { until } from '../helpers/until';

/** Bits per second of one HTTP download from the guest (what it sends), timed here. */
function downloadBitsPerSecond(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let bytes = 0;
    get(url, (res) => {
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve((bytes * 8) / ((performance.now() - started) / 1000)));
    }).on('error', reject);
  });
}

/** Bits per second of `bytes` sent to the guest (what it receives) until it closes the connection after the end, timed here. */
function uploadBitsPerSecond(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, host, () => socket.end(Buffer.alloc(bytes)));
    socket.on('error', reject);
    socket.resume();
    socket.on('close', () => resolve((bytes * 8) / ((performance.now() - started) / 1000)));
  });
}

const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8' });
const hasNetwork = (name: string) => virsh('net-list', '--all', '--name').split('\n').map((l) => l.trim()).includes(name);

/**
 * A managed network on real qemu:///system (issue 24): the request names the network, the address
 * and the gateway as the gateway sends them; the driver makes a libvirt network (NAT, its own
 * bridge, DHCP handing out the environment's address, a DNS entry for its hostname). One guest
 * (Debian's kernel, a busybox initramfs with the virtio NIC's modules) takes the address by DHCP,
 * and its IPv6 address (of the host's /64, the same index) from its kernel command line, and
 * answers on both from the host; its hostname resolves through the network's DNS; the network,
 * its bridge and its firewall rules go with the environment. A host port published to the guest
 * answers on the host's addresses, IPv4 and IPv6 (DNAT in iptables and ip6tables: from an IPv6
 * "outside" namespace and from the host), and its rules go when the guest stops; a bandwidth cap
 * (tbf on the tap, the guest's sent traffic through an ifb) holds both ways on 6 MiB transfers.
 */
describeWithEngine('libvirt-qemu', 'libvirt driver: a managed network on qemu:///system', () => {
  let dir: string;
  let driver: LibvirtDriver;
  const id = `net-${process.pid}`;
  const network = `rsp-test${process.pid}`;
  const subnet = `10.124.${randomInt(256)}`;
  /** The host's IPv6 /64 (its fourth group 0): `${prefix6}::2` is the address of index 2. */
  const prefix6 = `fd7c:${randomInt(0x1000, 0x10000).toString(16)}:${randomInt(0x1000, 0x10000).toString(16)}`;
  /** An IPv6 outside of the host (a network namespace with no route to the environments' range). */
  let o: Ipv6Outside;

  beforeAll(async () => {
    o = await createIpv6Outside('lv');
    dir = await hypervisorReadableDir('rsp-libvirt-net-');
    driver = await qemuGuestDriver(dir, { init: NETWORK_GUEST_INIT, modules: { release: basename(guestKernel()!).replace(/^vmlinuz-/, ''), paths: VIRTIO_NET_MODULES } });
  });

  afterAll(async () => {
    await driver?.destroy(id).catch(() => undefined);
    await driver?.close();
    await o?.close();
    if (hasNetwork(network)) {
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'net-destroy', network], { stdio: 'ignore' });
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'net-undefine', network], { stdio: 'ignore' });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('advertises managed networks, published ports and IPv6 (not on test:// connections)', () => {
    expect(driver.capabilities().features).toContain('publishedPorts');
    expect(driver.capabilities().features).toContain('managedNetwork');
    expect(driver.capabilities().features).toContain('ipv6');
    expect(new LibvirtDriver({ uri: 'test:///default' }).capabilities().features).toEqual([]);
  });

  test("the guest gets its address by DHCP and its IPv6 address from its command line, answers on both from the host, resolves by name; a published port answers on the host's addresses, IPv4 and IPv6, until stop; its bandwidth cap holds both ways; the network goes with it", async () => {
    const hostPort = 20000 + randomInt(20000);
    const bits = 16_000_000;
    await driver.create({
      id,
      image: { ref: await makeBaseImage(dir) },
      iface: { hostname: 'netguest', network: { mode: 'bridge', network, ipv4: `${subnet}.2/29`, gateway: `${subnet}.1`, ipv6: `${prefix6}::2/64`, gateway6: `${prefix6}::1` }, ports: [{ hostPort, port: 8080, protocol: 'tcp' }] },
      limits: { memoryBytes: 192 * 1024 * 1024, networkBitsPerSecond: bits },
    });
    const bridge = libvirtBridgeName(network);
    expect(virsh('net-info', network)).toMatch(new RegExp(`Active:\\s+yes[\\s\\S]*Bridge:\\s+${bridge}`));
    const netXml = virsh('net-dumpxml', network);
    expect(netXml).toMatch(new RegExp(`<host mac='52:54:00:[0-9a-f:]+' ip='${subnet}\\.2'/>`));
    expect(netXml).toMatch(/<hostname>netguest<\/hostname>/);
    // IPv6: the network holds the host's ::1 on the /64 and names the guest's ::2 (AAAA); the guest's command line carries its address.
    expect(netXml).toContain(`<ip family='ipv6' address='${prefix6}::1' prefix='64'>`);
    expect(netXml).toContain(`<host ip='${prefix6}::2'>`);
    expect(virsh('dumpxml', `rsp-${id}`)).toMatch(new RegExp(`<source network='${network}'`));
    expect(virsh('dumpxml', `rsp-${id}`)).toContain(`rsp.ipv6=${prefix6}::2/64 rsp.gateway6=${prefix6}::1`);

    await driver.start(id);
    expect(await until('the guest banner with its DHCP address', async () => (await driver.logs(id)).includes(`inet ${subnet}.2/29`), 60_000, 100)).toBe(true);
    expect(await until('the lease reported by inspect', async () => (await driver.inspect(id)).addresses.includes(`${subnet}.2`), 30_000, 100)).toBe(true);
    expect(await until('the guest answering the host on its address', async () => (await fetchText(`http://${subnet}.2:8080/`)) === 'hello-netguest\n', 30_000, 100)).toBe(true);
    expect(await until('the guest on its IPv6 address', async () => (await driver.logs(id)).includes(`inet6 ${prefix6}::2/64`), 30_000, 100)).toBe(true);
    expect((await driver.inspect(id)).addresses).toEqual([`${subnet}.2`, `${prefix6}::2`]);
    expect(execFileSync('ip', ['-6', 'addr', 'show', 'dev', libvirtBridgeName(network)], { encoding: 'utf8' })).toContain(`inet6 ${prefix6}::1/64`);
    expect(await until('the guest answering ping -6 from the host', async () => {
      try {
        execFileSync(BUSYBOX, ['ping', '-6', '-c', '1', '-W', '2', `${prefix6}::2`], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    }, 30_000, 100)).toBe(true);
    expect(await until('the guest answering the host on its IPv6 address', async () => (await fetchText(`http://[${prefix6}::2]:8080/`)) === 'hello-netguest\n', 30_000, 100)).toBe(true);
    const lookup = execFileSync(BUSYBOX, ['nslookup', 'netguest', `${subnet}.1`], { encoding: 'utf8' });
    expect(lookup).toContain(`Address: ${subnet}.2`);
    const url = `http://${outsideAddress()}:${hostPort}/`;
    expect(await until(`${url} answering`, async () => (await fetchText(url)) === 'hello-netguest\n', 30_000, 100)).toBe(true);
    expect(forwardsOf(hostPort)).toHaveLength(2);
    // The same on the host's IPv6 addresses, towards the guest's IPv6 address: from the outside and from the host itself.
    expect(forwardsOf(hostPort, 6)).toHaveLength(2);
    const url6 = `http://[${o.hostAddress}]:${hostPort}/`;
    expect(await until(`${url6} answering the outside`, async () => (await o.fetch(url6)) === 'hello-netguest\n', 30_000, 100)).toBe(true);
    expect(await fetchText(url6)).toBe('hello-netguest\n');

    // The cap, on the tap (what the guest receives) and through an ifb (what it sends): 6 MiB each way.
    expect(virsh('dumpxml', `rsp-${id}`)).not.toContain('<bandwidth>');
    expect((await driver.inspect(id)).limits.networkBitsPerSecond).toBe(bits);
    const sent = await downloadBitsPerSecond(`http://${subnet}.2:8080/blob`);
    const received = await uploadBitsPerSecond(`${subnet}.2`, 9000, 6 * 1024 * 1024);
    console.log(`bandwidth cap ${bits / 1e6} Mbit/s (libvirt qemu guest): received ${(received / 1e6).toFixed(1)} Mbit/s (${((received / bits) * 100).toFixed(0)} %), sent ${(sent / 1e6).toFixed(1)} Mbit/s (${((sent / bits) * 100).toFixed(0)} %)`);
    // The cap binds both ways (a busy machine can only make a transfer slower, never faster).
    expect(sent).toBeLessThanOrEqual(bits * 1.2);
    expect(received).toBeLessThanOrEqual(bits * 1.2);

    // As on the target of a migration: the domain runs, but this host has neither its forwards nor
    // its cap (a migration takes neither along); start on the running domain applies both.
    const shaped = shapedInterfaces(`rsp-${id}`);
    await new PortForwards().publish(`libvirt:rsp-${id}`, `${subnet}.2`, bridge, []);
    await new VethShaping().remove(shaped);
    expect(forwardsOf(hostPort)).toEqual([]);
    expect(forwardsOf(hostPort, 6)).toEqual([]);
    expect(existsSync(`/sys/class/net/${shaped.ifb}`)).toBe(false);
    await driver.start(id);
    expect(forwardsOf(hostPort)).toHaveLength(2);
    expect(forwardsOf(hostPort, 6)).toHaveLength(2);
    expect(await until(`${url} answering again`, async () => (await fetchText(url)) === 'hello-netguest\n', 30_000, 100)).toBe(true);
    expect(existsSync(`/sys/class/net/${shaped.ifb}`)).toBe(true);
    expect(execFileSync('tc', ['qdisc', 'show', 'dev', shaped.veth], { encoding: 'utf8' })).toMatch(/qdisc tbf /);

    await driver.stop(id, { graceSeconds: 0 });
    expect(forwardsOf(hostPort)).toEqual([]);
    expect(forwardsOf(hostPort, 6)).toEqual([]);
    expect(execFileSync('ip', ['-o', 'link', 'show', 'type', 'ifb'], { encoding: 'utf8' })).not.toContain(shapedInterfaces(`rsp-${id}`).ifb);

    await driver.destroy(id);
    expect(hasNetwork(network)).toBe(false);
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    expect(execFileSync('iptables', ['-S'], { encoding: 'utf8' })).not.toContain(bridge);
    expect(execFileSync('ip6tables', ['-S'], { encoding: 'utf8' })).not.toContain(bridge);
  }, 180_000);
});

/**
 * Two guests on one managed network of real qemu:///system (issue 24: "answers from another
 * environment on the same host"): guest `peer-b` fetches guest `peer-a`'s HTTP port by the address
 * RSP gave `peer-a`, and by its name through the network's DNS, and prints both answers on its
 * serial console; the test reads them from `peer-b`'s log. Destroying both takes the network away.
 */
describeWithEngine('libvirt-qemu', 'libvirt driver: two guests on one managed network', () => {
  let dir: string;
  let driver: LibvirtDriver;
  const a = `peer-a-${process.pid}`;
  const b = `peer-b-${process.pid}`;
  const network = `rsp-peer${process.pid}`;
  const subnet = `10.125.${randomInt(256)}`;

  beforeAll(async () => {
    dir = await hypervisorReadableDir('rsp-libvirt-peer-');
    driver = await qemuGuestDriver(dir, { init: NETWORK_GUEST_INIT, modules: { release: basename(guestKernel()!).replace(/^vmlinuz-/, ''), paths: VIRTIO_NET_MODULES } });
  });

  afterAll(async () => {
    for (const id of [a, b]) await driver?.destroy(id).catch(() => undefined);
    await driver?.close();
    if (hasNetwork(network)) {
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'net-destroy', network], { stdio: 'ignore' });
      execFileSync('virsh', ['-q', '-c', 'qemu:///system', 'net-undefine', network], { stdio: 'ignore' });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('one guest answers the other on its address and by its name', async () => {
    const image = { ref: await makeBaseImage(dir) };
    const net = (last: number) => ({ mode: 'bridge' as const, network, ipv4: `${subnet}.${last}/28`, gateway: `${subnet}.1` });
    await driver.create({ id: a, image, iface: { hostname: 'peer-a', network: net(2) }, limits: { memoryBytes: 192 * 1024 * 1024 } });
    await driver.create({ id: b, image, iface: { hostname: 'peer-b', network: net(3), config: { PEER: 'peer-a', PEER_ADDRESS: `${subnet}.2` } }, limits: { memoryBytes: 192 * 1024 * 1024 } });
    await driver.start(a);
    await driver.start(b);
    expect(await until('peer-a up on its address', async () => (await driver.logs(a)).includes(`inet ${subnet}.2/28`), 90_000, 100)).toBe(true);
    const byAddress = await until('peer-b fetching peer-a by address', async () => /PEER-BY-ADDRESS \S+ hello-peer-a/.exec(await driver.logs(b))?.[0], 90_000, 100).catch(async (e: Error) => {
      throw new Error(`${e.message}; peer-b's console ends:\n${await driver.logs(b, { tail: 15 })}`);
    });
    expect(byAddress).toBe(`PEER-BY-ADDRESS ${subnet}.2 hello-peer-a`);
    const byName = await until('peer-b fetching peer-a by name', async () => /PEER-BY-NAME \S+ hello-peer-a/.exec(await driver.logs(b))?.[0], 60_000, 100);
    expect(byName).toBe(`PEER-BY-NAME peer-a=${subnet}.2 hello-peer-a`);
    expect((await driver.inspect(b)).addresses).toEqual([`${subnet}.3`]);

    await driver.destroy(a);
    expect(hasNetwork(network)).toBe(true); // peer-b still has an interface on it
    await driver.destroy(b);
    expect(hasNetwork(network)).toBe(false);
  }, 240_000);
  test("a managed network another installation's domain is on (defined, never started) stays when this one's last domain goes", async () => {
    const image = { ref: await makeBaseImage(dir) };
    const otherDir = await hypervisorReadableDir('rsp-libvirt-net-other-');
    const other = await qemuGuestDriver(otherDir, {}, `rsp-other-${process.pid}`);
    const shared = `${network}s`;
    // The /28 after the peers' one, so it never overlaps theirs.
    const net = (last: number) => ({ mode: 'bridge' as const, network: shared, ipv4: `${subnet}.${last}/28`, gateway: `${subnet}.17` });
    const [ours, theirs] = [`owned-${process.pid}`, `other-${process.pid}`];
    try {
      await driver.create({ id: ours, image, iface: { hostname: 'ours', network: net(20) } });
      await other.create({ id: theirs, image, iface: { hostname: 'theirs', network: net(21) } });
      expect((await driver.list()).map((e) => e.id)).not.toContain(theirs);
      await driver.destroy(ours);
      expect(hasNetwork(shared)).toBe(true); // the other installation's domain still has an interface on it
      await other.destroy(theirs);
      expect(hasNetwork(shared)).toBe(false);
    } finally {
      await driver.destroy(ours).catch(() => undefined);
      await other.destroy(theirs).catch(() => undefined);
      await other.close();
      await rm(otherDir, { recursive: true, force: true });
    }
  }, 120_000);
});
