import type { PortSpec } from '../contract';
import { BadInputError } from '../errors';
import type { ManagedNetwork } from './managed-network';
import { KeyedQueue } from './keyed-queue';
import { runTool, runToolOk } from './run-tool';

/** The comment that marks one environment's forwarding rules: `rsp-port:` and the driver's key for it. */
const COMMENT_PREFIX = 'rsp-port:';

/**
 * Checks published ports as a driver receives them: 1–65535, tcp or udp, a host port once, and a
 * managed network to forward them to (an address RSP assigned). BAD_USER_INPUT otherwise.
 */
export function assertPortSpecs(ports: readonly PortSpec[] | undefined, network: ManagedNetwork | undefined): void {
  const seen = new Set<string>();
  for (const p of ports ?? []) {
    if (![p.hostPort, p.port].every((n) => Number.isInteger(n) && n >= 1 && n <= 65535)) throw new BadInputError(`port ${p.hostPort}→${p.port}: ports are 1–65535`, { hostPort: p.hostPort, port: p.port });
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new BadInputError(`port ${p.hostPort}: protocol is tcp or udp, not ${String(p.protocol)}`, { protocol: p.protocol });
    if (seen.has(`${p.hostPort}/${p.protocol}`)) throw new BadInputError(`host port ${p.hostPort}/${p.protocol} is published twice`, { hostPort: p.hostPort });
    seen.add(`${p.hostPort}/${p.protocol}`);
  }
  if (ports?.length && !network) throw new BadInputError('published ports need a managed network (network.network, with the address RSP assigned)', {});
}

/**
 * The iptables rules (table, chain, then the match) forwarding one published port to `address`
 * behind `bridge`: DNAT of what arrives for any of the host's own addresses (PREROUTING) and of
 * what the host itself sends there (OUTPUT, loopback excluded: it cannot be routed to a bridge),
 * and FORWARD accepting the new connections towards the environment (ahead of rules that drop
 * them, e.g. Docker's policy or libvirt's reject of inbound traffic to a NAT network). With
 * `family` 6, the ip6tables rules of the same towards an IPv6 `address` (`::1` excluded).
 */
function portRules(key: string, address: string, bridge: string, p: PortSpec, family: 4 | 6 = 4): string[][] {
  const mark = ['-m', 'comment', '--comment', `${COMMENT_PREFIX}${key}`];
  const match = ['-p', p.protocol, '-m', p.protocol, '--dport', String(p.hostPort), '-m', 'addrtype', '--dst-type', 'LOCAL'];
  const dnat = ['-j', 'DNAT', '--to-destination', family === 6 ? `[${address}]:${p.port}` : `${address}:${p.port}`];
  return [
    ['nat', 'PREROUTING', ...match, ...mark, ...dnat],
    ['nat', 'OUTPUT', '!', '-d', family === 6 ? '::1/128' : '127.0.0.0/8', ...match, ...mark, ...dnat],
    ['filter', 'FORWARD', '-d', `${address}/${family === 6 ? 128 : 32}`, '-o', bridge, '-p', p.protocol, '-m', p.protocol, '--dport', String(p.port), ...mark, '-j', 'ACCEPT'],
  ];
}

/**
 * Host ports published to environments on a managed network (LXC's and libvirt's; Docker
 * publishes its own): iptables rules made with argument arrays, each marked with the comment
 * `rsp-port:<key>` so that an environment's rules are found and removed whatever they were made
 * from; an environment with an IPv6 address also gets the same in ip6tables, so that the port
 * answers on the host's IPv6 addresses too. The ports are claimed by the gateway (one environment
 * per host port of a host) before a driver is asked; these rules only carry the traffic. Calls for
 * one key run one after another.
 */
export class PortForwards {
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly iptables = 'iptables',
    private readonly ip6tables = 'ip6tables',
  ) {}

  /** Replaces the environment's rules with those of `ports` towards `address` (and `address6`, its IPv6 address, when it has one) on `bridge` (none: only removes). */
  publish(key: string, address: string, bridge: string, ports: readonly PortSpec[], signal?: AbortSignal, address6?: string): Promise<void> {
    return this.queue.run(key, async () => {
      await this.remove(key);
      for (const p of ports) {
        for (const [table, chain, ...rule] of portRules(key, address, bridge, p)) {
          await runToolOk(this.iptables, ['-w', '-t', table!, '-I', chain!, '1', ...rule], { signal, describe: `publishing host port ${p.hostPort}/${p.protocol} to ${address}:${p.port}` });
        }
        for (const [table, chain, ...rule] of address6 ? portRules(key, address6, bridge, p, 6) : []) {
          await runToolOk(this.ip6tables, ['-w', '-t', table!, '-I', chain!, '1', ...rule], { signal, describe: `publishing host port ${p.hostPort}/${p.protocol} to [${address6}]:${p.port}` });
        }
      }
    });
  }

  /** Removes every rule of the environment (at stop and destroy; nothing to remove is not an error). */
  withdraw(key: string): Promise<void> {
    return this.queue.run(key, () => this.remove(key));
  }

  /** The rules of the environment, as `iptables -S` (or, with `family` 6, `ip6tables -S`) prints them (table first), for tests and diagnostics. */
  async rulesOf(key: string, family: 4 | 6 = 4): Promise<string[]> {
    const found: string[] = [];
    for (const table of ['nat', 'filter']) {
      const listed = await runTool(family === 6 ? this.ip6tables : this.iptables, ['-w', '-t', table, '-S']).catch(() => ({ stdout: '' }));
      for (const line of listed.stdout.split('\n')) if (isRuleOf(line, key)) found.push(`${table} ${line}`);
    }
    return found;
  }

  private async remove(key: string): Promise<void> {
    for (const family of [4, 6] as const) {
      for (const line of await this.rulesOf(key, family)) {
        const [table, append, ...rule] = line.split(' ').map((t) => t.replace(/^"(.*)"$/, '$1'));
        if (append !== '-A') continue;
        await runTool(family === 6 ? this.ip6tables : this.iptables, ['-w', '-t', table!, '-D', ...rule]);
      }
    }
  }
}

/** Whether an `iptables -S` line is a rule marked with the key's comment (printed quoted or not). */
function isRuleOf(line: string, key: string): boolean {
  const comment = `${COMMENT_PREFIX}${key}`;
  return line.startsWith('-A ') && (line.includes(` --comment "${comment}" `) || line.includes(` --comment ${comment} `));
}
