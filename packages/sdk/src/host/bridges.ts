import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConflictError } from '../errors';
import { assertIpv6Available } from './ipv6';
import { isUniqueLocal } from './ipv6-egress';
import type { ManagedNetwork } from './managed-network';
import { KeyedQueue } from './keyed-queue';
import { runTool, runToolOk } from './run-tool';

/** The alias marking a Linux bridge as one RSP made for a managed network (followed by the network's name). */
const ALIAS_PREFIX = 'rsp-managed:';

/**
 * The iptables rules of one bridge (table, then the rule): traffic within it accepted; traffic
 * leaving it for the host's outside accepted and masqueraded behind the host's address, and the
 * replies let back in.
 */
function firewallRules(bridge: string, subnet: string): string[][] {
  const mark = ['-m', 'comment', '--comment', 'rsp-managed'];
  return [
    ['filter', 'FORWARD', '-i', bridge, '-o', bridge, ...mark, '-j', 'ACCEPT'],
    ['filter', 'FORWARD', '-i', bridge, '!', '-o', bridge, ...mark, '-j', 'ACCEPT'],
    ['filter', 'FORWARD', '!', '-i', bridge, '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...mark, '-j', 'ACCEPT'],
    ['nat', 'POSTROUTING', '-s', subnet, '!', '-o', bridge, ...mark, '-j', 'MASQUERADE'],
  ];
}

/**
 * The ip6tables rules of a bridge with an IPv6 side `subnet6`: those of `firewallRules`, the
 * masquerade (NAT66) only for a unique local range; a global /64 leaves untranslated, routed to the
 * host by the network upstream.
 */
function firewallRules6(bridge: string, subnet6: string): string[][] {
  return firewallRules(bridge, subnet6).filter(([table]) => table === 'filter' || isUniqueLocal(subnet6));
}

/** The kernel switch that lets the host route between the bridge and its outside. */
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** The Linux bridge of a managed network: `rsp` and 12 hex digits of its name's hash (interface names have at most 15 characters). */
export function bridgeName(network: string): string {
  return `rsp${createHash('sha256').update(network).digest('hex').slice(0, 12)}`;
}

/**
 * The Linux bridges of a driver's managed networks (LXC's, UML's): made on first use with the network's gateway
 * address (an existing one must carry it: CONFLICT otherwise), marked as RSP's by their alias,
 * with iptables rules for traffic within the bridge and masqueraded egress (and IPv4 forwarding
 * turned on); a network with an IPv6 side also gets its IPv6 gateway address and the same
 * rules in ip6tables (the masquerade for a unique local range only; IPv6 forwarding is the host's). They
 * are removed with their rules once no environment of the driver links to them. Calls on one bridge run one after another.
 */
export class ManagedBridges {
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly ip = 'ip',
    private readonly iptables = 'iptables',
    private readonly ip6tables = 'ip6tables',
  ) {}

  /** Makes the network's bridge unless it exists with the gateway address; returns its name. */
  ensure(network: ManagedNetwork, signal?: AbortSignal): Promise<string> {
    const bridge = bridgeName(network.name);
    const gateway = `${network.gateway}/${network.subnet.split('/')[1]}`;
    return this.queue.run(bridge, async () => {
      if (network.ipv6) await assertIpv6Available(`bridge ${bridge} (network ${network.name})`);
      const shown = await runTool(this.ip, ['-4', '-o', 'addr', 'show', 'dev', bridge], { signal });
      if (shown.exitCode === 0) {
        if (!shown.stdout.includes(` ${gateway} `)) throw new ConflictError(`bridge ${bridge} (network ${network.name}) exists without the address ${gateway}`, { bridge, network: network.name, gateway });
        await this.addIpv6(bridge, network, signal);
        await this.allowTraffic(bridge, network, signal);
        return bridge;
      }
      const describe = `making bridge ${bridge} for network ${network.name}`;
      const made = await runTool(this.ip, ['link', 'add', 'name', bridge, 'type', 'bridge'], { signal });
      if (made.exitCode !== 0 && !/exists/i.test(made.stderr)) throw new ConflictError(`${describe} failed: ${made.stderr.trim()}`, { bridge, network: network.name });
      await runToolOk(this.ip, ['link', 'set', 'dev', bridge, 'alias', `${ALIAS_PREFIX}${network.name}`], { signal, describe });
      const addressed = await runTool(this.ip, ['addr', 'add', gateway, 'dev', bridge], { signal });
      if (addressed.exitCode !== 0 && !/exists/i.test(addressed.stderr)) throw new ConflictError(`${describe} failed: ${addressed.stderr.trim()}`, { bridge, network: network.name });
      await this.addIpv6(bridge, network, signal);
      await runToolOk(this.ip, ['link', 'set', 'dev', bridge, 'up'], { signal, describe });
      await this.allowTraffic(bridge, network, signal);
      return bridge;
    });
  }

  /** Gives the bridge the network's IPv6 gateway address (without duplicate address detection: usable at once), when it has an IPv6 side. */
  private async addIpv6(bridge: string, network: ManagedNetwork, signal?: AbortSignal): Promise<void> {
    if (!network.ipv6) return;
    const gateway = `${network.ipv6.gateway}/64`;
    const added = await runTool(this.ip, ['-6', 'addr', 'add', gateway, 'dev', bridge, 'nodad'], { signal });
    if (added.exitCode !== 0 && !/exists|already assigned/i.test(added.stderr)) throw new ConflictError(`giving bridge ${bridge} (network ${network.name}) the address ${gateway} failed: ${added.stderr.trim()}`, { bridge, network: network.name, gateway6: gateway });
  }

  /**
   * Removes the network's bridge, and its rules, when it is RSP's and `inUse` (asked inside the
   * bridge's queue, so no `ensure` runs meanwhile) says no environment of the driver links to it.
   */
  release(network: ManagedNetwork, inUse: (bridge: string) => Promise<boolean>): Promise<void> {
    const bridge = bridgeName(network.name);
    return this.queue.run(bridge, async () => {
      const alias = await readFile(`/sys/class/net/${bridge}/ifalias`, 'utf8').catch(() => '');
      if (!alias.startsWith(ALIAS_PREFIX)) return;
      if (await inUse(bridge)) return;
      await runTool(this.ip, ['link', 'del', 'dev', bridge]);
      for (const [table, ...rule] of firewallRules(bridge, network.subnet)) {
        while ((await runTool(this.iptables, ['-t', table!, '-D', ...rule]).catch(() => ({ exitCode: 1 }))).exitCode === 0);
      }
      for (const [table, ...rule] of network.ipv6 ? firewallRules6(bridge, network.ipv6.subnet) : []) {
        while ((await runTool(this.ip6tables, ['-t', table!, '-D', ...rule]).catch(() => ({ exitCode: 1 }))).exitCode === 0);
      }
    });
  }

  /**
   * Lets environments of the bridge reach each other where bridged traffic goes through the
   * firewall (br_netfilter) and FORWARD drops by default (as Docker sets it), and reach the host's
   * outside behind its address: the rules of `firewallRules`, each made once, and IPv4 forwarding
   * on (it is off on a host nothing turned it on for). Without iptables there is no such firewall.
   */
  private async allowTraffic(bridge: string, network: ManagedNetwork, signal?: AbortSignal): Promise<void> {
    if ((await readFile(IP_FORWARD, 'utf8').catch(() => '1')).trim() === '0') await writeFile(IP_FORWARD, '1\n');
    await this.insertRules(this.iptables, bridge, firewallRules(bridge, network.subnet), signal);
    if (network.ipv6) await this.insertRules(this.ip6tables, bridge, firewallRules6(bridge, network.ipv6.subnet), signal);
  }

  /** Inserts each rule `tool` (iptables, ip6tables) does not hold yet; nothing without the tool. */
  private async insertRules(tool: string, bridge: string, rules: string[][], signal?: AbortSignal): Promise<void> {
    for (const [table, ...rule] of rules) {
      const present = await runTool(tool, ['-t', table!, '-C', ...rule], { signal }).catch(() => undefined);
      if (!present) return;
      if (present.exitCode !== 0) await runToolOk(tool, ['-t', table!, '-I', ...rule], { signal, describe: `allowing traffic of bridge ${bridge}` });
    }
  }
}
