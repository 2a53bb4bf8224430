import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError, UnavailableError } from '../errors';
import { assertIpv6Available } from '../host/ipv6';
import { KeyedQueue } from '../host/keyed-queue';
import type { ManagedNetwork } from '../host/managed-network';
import { lastLines } from '../host/run-tool';
import { el, parent } from './domain-xml/xml';
import { METADATA_NAMESPACE } from './domain-xml/model';
import type { Virsh } from './virsh';

/** One environment's entries in a libvirt network: its NIC's MAC, the address DHCP gives it, and its DNS name. */
export interface NetworkHost {
  mac: string;
  ip: string;
  hostname: string;
}

/** The Linux bridge of a managed libvirt network: `rspv` and 11 hex digits of its name's hash (LXC's bridges are `rsp…`). */
export function libvirtBridgeName(network: string): string {
  return `rspv${createHash('sha256').update(network).digest('hex').slice(0, 11)}`;
}

/** The MAC address of an environment's NIC: libvirt's QEMU prefix 52:54:00 and 3 bytes of a hash of its domain name. */
export function environmentMac(domain: string): string {
  const hex = createHash('sha256').update(domain).digest('hex');
  return `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/**
 * The XML of a managed network: NAT to the host's outside, RSP's metadata mark, the gateway address
 * with DHCP for the static hosts only and, when the network has an IPv6 side, the host's IPv6
 * address on its /64 (second `<ip>`: libvirt turns IPv6 on for the bridge, adds its ip6tables rules
 * and sends router advertisements; the guests' addresses are static, see `kernelCmdline`).
 */
export function networkXml(network: ManagedNetwork): string {
  const prefix = network.subnet.split('/')[1]!;
  return parent('network', {}, [
    el('name', {}, network.name),
    `<metadata>\n  <rsp:network xmlns:rsp="${METADATA_NAMESPACE}">${network.subnet}</rsp:network>\n</metadata>`,
    parent('forward', { mode: 'nat' }, [el('nat', {})]),
    el('bridge', { name: libvirtBridgeName(network.name), stp: 'off' }),
    el('domain', { name: network.name, localOnly: 'yes' }),
    parent('ip', { address: network.gateway, prefix }, [el('dhcp', {})]),
    network.ipv6 && el('ip', { family: 'ipv6', address: network.ipv6.gateway, prefix: 64 }),
  ]);
}

/**
 * The libvirt networks of RSP's managed networks, through `virsh net-*` with argument arrays (the
 * native binding has no network calls): defined and started on first use (NAT forward, a bridge
 * of RSP's, DHCP that hands out only the static entries RSP adds), one DHCP host entry (MAC →
 * RSP's address) and one DNS host entry (address → hostname) per environment — two with an IPv6
 * address (AAAA beside A) — and destroyed and undefined once no domain has an interface on them.
 * Calls on one network run one after another.
 */
export class LibvirtNetworks {
  private readonly queue = new KeyedQueue();

  constructor(private readonly virsh: Virsh) {}

  /**
   * Makes the network unless it exists with the same gateway and prefix (CONFLICT otherwise),
   * starts it when inactive, and adds the environment's DHCP and DNS entries unless present. A
   * network asked for with an IPv6 side that exists without it (made before its host had an
   * IPv6 range) is made again when it is RSP's and `attached` counts no domain on it; CONFLICT
   * otherwise. A host whose kernel has IPv6 off refuses an IPv6 side (UNSUPPORTED_OPERATION).
   */
  ensure(network: ManagedNetwork, host: NetworkHost, signal?: AbortSignal, attached?: () => Promise<number>): Promise<void> {
    return this.queue.run(network.name, async () => {
      if (network.ipv6) await assertIpv6Available(`libvirt network ${network.name}`);
      let xml = (await this.xml(network.name, signal)) ?? '';
      const prefix = network.subnet.split('/')[1];
      if (xml && !new RegExp(`<ip address=["']${escapeDots(network.gateway)}["'] prefix=["']${prefix}["']`).test(xml)) {
        throw new ConflictError(`libvirt network ${network.name} exists without the gateway ${network.gateway}/${prefix}`, { network: network.name, gateway: network.gateway });
      }
      if (xml && network.ipv6 && !hasIpv6Gateway(xml, network.ipv6.gateway)) {
        const inUse = attached ? await attached() : undefined;
        if (inUse !== 0 || !xml.includes(`xmlns:rsp="${METADATA_NAMESPACE}"`)) {
          throw new ConflictError(`libvirt network ${network.name} exists without the IPv6 gateway ${network.ipv6.gateway}/64${inUse ? ` and ${inUse} domain(s) use it: it can be made again with it once they are gone` : ''}`, { network: network.name, gateway6: network.ipv6.gateway });
        }
        await this.virsh.result(['net-destroy', '--', network.name], signal);
        await this.virsh.run(['net-undefine', '--', network.name], `undefining libvirt network ${network.name} (to make it again with IPv6)`, signal);
        xml = '';
      }
      if (!xml) await this.define(network, signal);
      const active = /^Active:\s+yes/m.test(await this.virsh.run(['net-info', '--', network.name], `reading libvirt network ${network.name}`, signal));
      if (!active) await this.virsh.run(['net-start', '--', network.name], `starting libvirt network ${network.name}`, signal);
      if (!hasDhcpHost(xml, host)) await this.update(network.name, 'add-last', 'ip-dhcp-host', el('host', { mac: host.mac, ip: host.ip }), signal);
      for (const ip of namedAddresses(network, host)) {
        if (!hasDnsHost(xml, ip)) await this.update(network.name, 'add-last', 'dns-host', parent('host', { ip }, [el('hostname', {}, host.hostname)]), signal);
      }
    });
  }

  /**
   * Removes the environment's entries, then the network itself when it is RSP's and no domain
   * named in `attached` (the domains that still have an interface on it) is left.
   */
  release(name: string, host: NetworkHost & Pick<ManagedNetwork, 'ipv6'>, attached: () => Promise<number>): Promise<void> {
    return this.queue.run(name, async () => {
      const xml = await this.xml(name);
      if (!xml?.includes(`xmlns:rsp="${METADATA_NAMESPACE}"`)) return;
      if (hasDhcpHost(xml, host)) await this.update(name, 'delete', 'ip-dhcp-host', el('host', { mac: host.mac, ip: host.ip }));
      for (const ip of namedAddresses(host, host)) if (hasDnsHost(xml, ip)) await this.update(name, 'delete', 'dns-host', el('host', { ip }));
      if ((await attached()) > 0) return;
      await this.virsh.result(['net-destroy', '--', name]);
      await this.virsh.result(['net-undefine', '--', name]);
    });
  }

  /** `virsh net-define` of the network's XML, from a file of its own (virsh cannot open a piped standard input by name). */
  private async define(network: ManagedNetwork, signal?: AbortSignal): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'rsp-network-'));
    try {
      await writeFile(join(dir, 'network.xml'), networkXml(network));
      await this.virsh.run(['net-define', '--', join(dir, 'network.xml')], `defining libvirt network ${network.name}`, signal);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The address the network's DHCP server leased to `mac`, if any. */
  async leased(name: string, mac: string, signal?: AbortSignal): Promise<string | undefined> {
    const result = await this.virsh.result(['net-dhcp-leases', '--mac', mac, '--', name], signal);
    if (result.exitCode !== 0) return undefined;
    return /\bipv4\s+(\d+\.\d+\.\d+\.\d+)\//.exec(result.stdout)?.[1];
  }

  /** The network's XML, or undefined when there is no network of that name. */
  private async xml(name: string, signal?: AbortSignal): Promise<string | undefined> {
    const result = await this.virsh.result(['net-dumpxml', '--', name], signal);
    if (result.exitCode === 0) return result.stdout;
    if (/no network with matching name|Network not found/i.test(result.stderr)) return undefined;
    throw new UnavailableError(`reading libvirt network ${name} failed: ${lastLines(result.stderr)}`, { network: name });
  }

  /**
   * `virsh net-update` of the live network and its definition; DHCP host entries go to the first
   * `<ip>` (the IPv4 one: left to itself, libvirt would pick the IPv6 one of a network that has it).
   */
  private async update(name: string, command: 'add-last' | 'delete', section: 'ip-dhcp-host' | 'dns-host', xml: string, signal?: AbortSignal): Promise<void> {
    const parentIndex = section === 'ip-dhcp-host' ? ['--parent-index', '0'] : [];
    const result = await this.virsh.result(['net-update', '--live', '--config', ...parentIndex, '--', name, command, section, xml], signal);
    if (result.exitCode !== 0) throw new ConflictError(`${command} of ${section} ${xml} in libvirt network ${name} failed: ${lastLines(result.stderr)}`, { network: name, entry: xml });
  }
}

/** Whether the network's XML has the environment's DHCP host entry (libvirt writes single quotes). */
function hasDhcpHost(xml: string, host: NetworkHost): boolean {
  return new RegExp(`<host mac=["']${host.mac}["'][^>]*\\bip=["']${escapeDots(host.ip)}["']`).test(xml);
}

/** Whether the network's XML has a DNS host entry for `ip`. */
function hasDnsHost(xml: string, ip: string): boolean {
  return new RegExp(`<host ip=["']${escapeDots(ip)}["']>`).test(xml);
}

/** Whether the network's XML has an IPv6 `<ip>` with `gateway` on a /64. */
function hasIpv6Gateway(xml: string, gateway: string): boolean {
  return new RegExp(`<ip family=["']ipv6["'] address=["']${gateway}["'] prefix=["']64["']`).test(xml);
}

/** The addresses the environment's hostname answers in the network's DNS: its IPv4 address and, with an IPv6 side, its IPv6 one. */
function namedAddresses(network: Pick<ManagedNetwork, 'ipv6'>, host: NetworkHost): string[] {
  return [host.ip, ...(network.ipv6 ? [network.ipv6.address] : [])];
}

function escapeDots(ip: string): string {
  return ip.replace(/\./g, '\\.');
}
