import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadBinding } from '../../../drivers/libvirt/binding';
import { kernelCmdline, readOnlyRootCmdline } from '../../../drivers/libvirt/boot';
import type { DomainModel, DomainType } from '../../../drivers/libvirt/domain-xml';
import { domainXml, OWNER_NAMESPACE, readDomain } from '../../../drivers/libvirt/domain-xml';
import { environmentMac, libvirtBridgeName, networkXml } from '../../../drivers/libvirt/networks';
import { describeWithEngine } from '../../helpers/engines';

const run = promisify(execFile);

/**
 * Every domain type's builder: values XML-escaped, the XML valid against libvirt's own RNG schema
 * (`virt-xml-validate … domain`), and — for Xen, which this machine cannot run — defined on a
 * test:// connection as `type='xen'` and read back.
 */
const NASTY = `a&b<c>"d'e]]><!--`;

function model(overrides: Partial<DomainModel> = {}): DomainModel {
  return {
    name: 'rsp-xml-test',
    uuid: '2b1c6f2e-3f64-4a4c-9f0a-6a4b1f7d9a10',
    memoryKiB: 262144,
    vcpus: 2,
    cpuShares: 500,
    cpuQuota: { periodUs: 100000, quotaUs: 150000 },
    blkioWeight: 250,
    rootDisk: { path: '/var/lib/rsp/libvirt/rsp-xml-test/root.qcow2', format: 'qcow2' },
    volumes: [{ name: 'data', hostPath: '/srv/rsp/vol&<data>', mountPath: '/var/lib/data', readOnly: true }],
    network: { bridge: 'virbr0', ipv4: { address: '10.0.3.15', prefix: 24 }, gateway: '10.0.3.1', averageKiBps: 1221 },
    init: { command: ['/sbin/rsp-init', NASTY], env: { RSP_HOSTNAME: 'h', NOTE: NASTY } },
    consoleLog: '/var/lib/rsp/libvirt/rsp-xml-test/console.log',
    metadata: {
      environment: 'xml-test',
      image: { ref: '/images/base.qcow2' },
      hostname: 'h',
      labels: { note: NASTY, 'rsp.environment': 'xml-test' },
      createdAt: '2026-01-01T00:00:00.000Z',
      directory: '/var/lib/rsp/libvirt/rsp-xml-test',
    },
    owner: 'installation-1',
    ...overrides,
  };
}

const VARIANTS: Array<[string, DomainType, Partial<DomainModel>]> = [
  ['kvm, disk boot', 'kvm', {}],
  ['qemu, direct kernel boot', 'qemu', { kernel: { path: '/boot/vmlinuz', initrd: '/boot/initrd.img', cmdline: `console=ttyS0 rsp.hostname=h x=${NASTY}` } }],
  ['qemu, read-only root', 'qemu', { rootDisk: { path: '/var/lib/rsp/libvirt/rsp-xml-test/root.qcow2', format: 'qcow2', readOnly: true }, stateDisk: '/var/lib/rsp/libvirt/rsp-xml-test/state.qcow2', kernel: { path: '/boot/vmlinuz', cmdline: 'console=ttyS0 root=/dev/vda ro' } }],
  ['qemu, console socket', 'qemu', { consoleSocket: '/var/lib/rsp/libvirt/rsp-xml-test/console.sock' }],
  ['qemu, no network, no limits', 'qemu', { network: undefined, cpuShares: undefined, cpuQuota: undefined, blkioWeight: undefined, volumes: [] }],
  ['xen HVM', 'xen', {}],
  ['xen PV (kernel)', 'xen', { kernel: { path: '/boot/vmlinuz', initrd: '/boot/initrd.img', cmdline: 'console=hvc0' } }],
  ['xen, no network', 'xen', { network: undefined, volumes: [] }],
  ['lxc', 'lxc', {}],
  ['lxc, no network', 'lxc', { network: undefined }],
  ['qemu, managed network', 'qemu', { network: { bridge: 'virbr0', network: 'rsp-0123456789', mac: '52:54:00:ab:cd:ef', averageKiBps: 1221 } }],
  ['lxc, managed network', 'lxc', { network: { bridge: 'virbr0', network: 'rsp-0123456789', mac: '52:54:00:ab:cd:ef', ipv4: { address: '10.42.0.2', prefix: 24 }, gateway: '10.42.0.1' } }],
  ['lxc, managed network with IPv6', 'lxc', { network: { bridge: 'virbr0', network: 'rsp-0123456789', mac: '52:54:00:ab:cd:ef', ipv4: { address: '10.42.0.2', prefix: 24 }, gateway: '10.42.0.1', ipv6: { address: 'fd3a:1b2c:4d5e::2', prefix: 64 }, gateway6: 'fd3a:1b2c:4d5e::1' } }],
];

/** A managed network with an IPv6 side, as `managedNetworkOf` gives it. */
const NETWORK6 = { name: 'rsp-0123456789', subnet: '10.42.0.0/24', gateway: '10.42.0.1', address: '10.42.0.2', ipv6: { subnet: 'fd3a:1b2c:4d5e::/64', gateway: 'fd3a:1b2c:4d5e::1', address: 'fd3a:1b2c:4d5e::2' } };

describe('libvirt domain XML builders', () => {
  test.each(VARIANTS)('%s: every value escaped, metadata reads back intact', (_, type, overrides) => {
    const xml = domainXml(type, model(overrides));
    expect(xml).toMatch(new RegExp(`^<domain type="${type}">`));
    expect(xml).not.toContain(NASTY);
    expect(xml).not.toContain('<!--');
    const facts = readDomain(xml);
    expect(facts.type).toBe(type);
    expect(facts.metadata?.labels.note).toBe(NASTY);
    expect(facts.owner).toBe('installation-1');
    expect(facts.memoryBytes).toBe(262144 * 1024);
    if (overrides.cpuQuota === undefined && !('cpuQuota' in overrides)) expect(facts.cpuQuota).toBe(1.5);
  });

  test('the owner is an element of its own namespace, read back under any prefix (virsh metadata --key), escaped; none without an owner', () => {
    const xml = domainXml('qemu', model({ owner: NASTY }));
    expect(xml).toContain(`<rspowner:owner xmlns:rspowner="${OWNER_NAMESPACE}">`);
    expect(readDomain(xml).owner).toBe(NASTY);
    expect(readDomain(xml.replace(/rspowner/g, 'other')).owner).toBe(NASTY);
    expect(readDomain(xml.replace(OWNER_NAMESPACE, 'urn:someone:else')).owner).toBeUndefined();
    expect(readDomain(domainXml('qemu', model({ owner: undefined }))).owner).toBeUndefined();
  });

  test('limits map to cputune, blkiotune and interface bandwidth', () => {
    const xml = domainXml('kvm', model());
    expect(xml).toContain('<shares>500</shares>');
    expect(xml).toContain('<global_quota>150000</global_quota>');
    expect(xml).toContain('<weight>250</weight>');
    expect(xml).toContain('<inbound average="1221"/>');
    expect(xml).toContain('<outbound average="1221"/>');
    expect(readDomain(xml).networkBitsPerSecond).toBe(1221 * 1024 * 8);
  });

  test('a managed network is an interface of type network with its fixed MAC; a bridge stays a bridge', () => {
    const managed = domainXml('qemu', model({ network: { bridge: 'virbr0', network: 'rsp-0123456789', mac: '52:54:00:ab:cd:ef' } }));
    expect(managed).toMatch(/<interface type="network">\s*<mac address="52:54:00:ab:cd:ef"\/>\s*<source network="rsp-0123456789"\/>/);
    expect(managed).not.toContain('virbr0');
    expect(domainXml('qemu', model())).toMatch(/<interface type="bridge">\s*<source bridge="virbr0"\/>/);
  });

  test('a read-only root is the root disk attached <readonly/> and booted with `ro` (rw/ro words replaced); a writable one as before', () => {
    const ro = domainXml('qemu', model({ rootDisk: { path: '/r/root.qcow2', format: 'qcow2', readOnly: true } }));
    expect(ro).toMatch(/<disk type="file" device="disk">\s*<driver name="qemu" type="qcow2" cache="none"\/>\s*<source file="\/r\/root\.qcow2"\/>\s*<target dev="vda" bus="virtio"\/>\s*<readonly\/>\s*<\/disk>/);
    expect(domainXml('kvm', model())).not.toMatch(/<disk[\s\S]*<readonly\/>[\s\S]*<\/disk>/);
    expect(readDomain(ro)).toMatchObject({ rootReadOnly: true, stateDisk: false, rootDisk: '/r/root.qcow2' });
    const withState = domainXml('qemu', model({ rootDisk: { path: '/r/root.qcow2', format: 'qcow2', readOnly: true }, stateDisk: '/r/state.qcow2' }));
    expect(withState).toMatch(/<readonly\/>\s*<\/disk>\s*<disk type="file" device="disk">\s*<driver name="qemu" type="qcow2" cache="none"\/>\s*<source file="\/r\/state\.qcow2"\/>\s*<target dev="vdb" bus="virtio"\/>\s*<\/disk>/);
    expect(readDomain(withState)).toMatchObject({ rootReadOnly: true, stateDisk: true, rootDisk: '/r/root.qcow2' });
    expect(readDomain(domainXml('qemu', model())).rootReadOnly).toBe(false); // its 9p volume's <readonly/> is not the root's
    expect(readDomain(domainXml('lxc', model())).rootReadOnly).toBe(false);
    expect(readOnlyRootCmdline('console=ttyS0 root=/dev/vda rw panic=-1 quiet')).toBe('console=ttyS0 root=/dev/vda panic=-1 quiet ro');
    expect(readOnlyRootCmdline(undefined)).toBe('ro');
  });

  test('the serial console: on a unix socket (bound by libvirt) and logged when the model has one, else a logged pty', () => {
    const socket = '/var/lib/rsp/libvirt/rsp-xml-test/console.sock';
    const xml = domainXml('qemu', model({ consoleSocket: socket }));
    expect(xml).toMatch(/<serial type="unix">\s*<source mode="bind" path="[^"]+console\.sock"\/>\s*<log file="[^"]+console\.log" append="off"\/>/);
    expect(xml).toMatch(/<console type="unix">\s*<source mode="bind" path="[^"]+console\.sock"\/>\s*<target type="serial" port="0"\/>/);
    expect(readDomain(xml)).toMatchObject({ consoleSocket: socket, consoleLog: '/var/lib/rsp/libvirt/rsp-xml-test/console.log' });
    const pty = domainXml('qemu', model());
    expect(pty).toMatch(/<serial type="pty">\s*<log file=/);
    expect(readDomain(pty).consoleSocket).toBeUndefined();
  });

  test('managed networks: NAT, a bridge name Linux accepts, the gateway with DHCP; MACs fixed per domain', () => {
    const xml = networkXml({ name: 'rsp-0123456789', subnet: '10.42.0.0/24', gateway: '10.42.0.1', address: '10.42.0.2' });
    expect(xml).toContain('<forward mode="nat">');
    expect(xml).toContain(`<bridge name="${libvirtBridgeName('rsp-0123456789')}" stp="off"/>`);
    expect(libvirtBridgeName('rsp-0123456789')).toMatch(/^rspv[0-9a-f]{11}$/);
    expect(xml).toMatch(/<ip address="10\.42\.0\.1" prefix="24">\s*<dhcp\/>/);
    expect(environmentMac('rsp-a')).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(environmentMac('rsp-a')).toBe(environmentMac('rsp-a'));
    expect(environmentMac('rsp-a')).not.toBe(environmentMac('rsp-b'));
  });

  test('IPv6: the network holds the host\'s address on the /64; a libvirt-LXC domain gets its static address and route; a VM gets them on its kernel command line', () => {
    expect(networkXml(NETWORK6)).toMatch(/<ip address="10\.42\.0\.1" prefix="24">\s*<dhcp\/>\s*<\/ip>\s*<ip family="ipv6" address="fd3a:1b2c:4d5e::1" prefix="64"\/>/);
    expect(networkXml({ ...NETWORK6, ipv6: undefined })).not.toContain('ipv6');
    const lxc = domainXml('lxc', model({ network: { bridge: 'virbr0', network: 'rsp-0123456789', mac: '52:54:00:ab:cd:ef', ipv6: { address: 'fd3a:1b2c:4d5e::2', prefix: 64 }, gateway6: 'fd3a:1b2c:4d5e::1' } }));
    expect(lxc).toContain('<ip address="fd3a:1b2c:4d5e::2" family="ipv6" prefix="64"/>');
    expect(lxc).toContain('<route family="ipv6" address="::" prefix="0" gateway="fd3a:1b2c:4d5e::1"/>');
    const network = { mode: 'bridge' as const, network: 'rsp-0123456789', ipv4: '10.42.0.2/24', gateway: '10.42.0.1' };
    expect(kernelCmdline('console=ttyS0', { hostname: 'h', network: { ...network, ipv6: 'fd3a:1b2c:4d5e:0::2/64', gateway6: 'fd3a:1b2c:4d5e::1' } })).toBe('console=ttyS0 rsp.hostname=h rsp.ipv6=fd3a:1b2c:4d5e::2/64 rsp.gateway6=fd3a:1b2c:4d5e::1 rsp.config.RSP_HOSTNAME=h');
    expect(kernelCmdline('console=ttyS0', { hostname: 'h', network })).toBe('console=ttyS0 rsp.hostname=h rsp.config.RSP_HOSTNAME=h');
  });
});

describeWithEngine('libvirt', 'libvirt domain XML against libvirt itself', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-domain-xml-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test.each(VARIANTS)('%s validates against libvirt\'s domain RNG schema (virt-xml-validate)', async (label, type, overrides) => {
    const file = join(dir, `${label.replace(/\W+/g, '-')}.xml`);
    await writeFile(file, domainXml(type, model(overrides)));
    const { stdout, stderr } = await run('virt-xml-validate', [file, 'domain']).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`virt-xml-validate rejected the ${label} XML: ${e.stderr || e.stdout}`);
    });
    expect(`${stdout}${stderr}`).toMatch(/validates/);
  });

  test('a managed network\'s XML (with and without IPv6) validates against libvirt\'s network RNG schema', async () => {
    const file = join(dir, 'network.xml');
    for (const network of [{ ...NETWORK6, ipv6: undefined }, NETWORK6]) {
      await writeFile(file, networkXml(network));
      const { stdout, stderr } = await run('virt-xml-validate', [file, 'network']);
      expect(`${stdout}${stderr}`).toMatch(/validates/);
    }
  });

  test.each(VARIANTS.filter(([, type]) => type === 'xen'))('%s: defined on a test:// connection as type xen and read back', async (_, type, overrides) => {
    const loaded = await loadBinding();
    if (!loaded.ok) throw new Error(loaded.reason);
    const conn = await loaded.binding.open('test:///default');
    try {
      await conn.defineXML(domainXml(type, model(overrides)));
      const back = await conn.getXML('rsp-xml-test');
      expect(readDomain(back)).toMatchObject({ type: 'xen', metadata: { labels: { note: NASTY } }, owner: 'installation-1' });
      expect(back).toMatch(/<target dev=["']xvda["'] bus=["']xen["']/);
      await conn.undefine('rsp-xml-test');
    } finally {
      await conn.close();
    }
  });
});
