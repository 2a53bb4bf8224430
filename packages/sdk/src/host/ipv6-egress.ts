import { ipv6Groups } from './ipv6';
import { runTool, runToolOk } from './run-tool';

/** Whether an IPv6 range (CIDR or address) is unique local (fc00::/7, RFC 4193): such a range is masqueraded to leave the host. */
export function isUniqueLocal(range: string): boolean {
  const first = ipv6Groups(range.split('/')[0] ?? '')?.[0];
  return first !== undefined && (first & 0xfe00) === 0xfc00;
}

/**
 * The ip6tables rules (table, then the rule) that let a managed network's IPv6 range `subnet6`
 * reach the host's outside: new connections out accepted, their replies let back in, and — for a
 * unique local range — masqueraded behind the host's IPv6 address on the way out (NAT66). A global
 * range is not translated: the network upstream routes it to the host. Marked `rsp-managed`.
 */
export function egressRules6(subnet6: string): string[][] {
  const mark = ['-m', 'comment', '--comment', 'rsp-managed'];
  return [
    ['filter', 'FORWARD', '-s', subnet6, ...mark, '-j', 'ACCEPT'],
    ['filter', 'FORWARD', '-d', subnet6, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...mark, '-j', 'ACCEPT'],
    ...(isUniqueLocal(subnet6) ? [['nat', 'POSTROUTING', '-s', subnet6, '!', '-d', subnet6, ...mark, '-j', 'MASQUERADE']] : []),
  ];
}

/**
 * Inserts each of `rules` (table first) that `tool` (ip6tables, iptables) does not hold yet.
 * Without the tool there is no such firewall: nothing is done.
 */
export async function insertRules(tool: string, rules: string[][], describe: string, signal?: AbortSignal): Promise<void> {
  for (const [table, ...rule] of rules) {
    const present = await runTool(tool, ['-w', '-t', table!, '-C', ...rule], { signal }).catch(() => undefined);
    if (!present) return;
    if (present.exitCode !== 0) await runToolOk(tool, ['-w', '-t', table!, '-I', ...rule], { signal, describe });
  }
}

/** Deletes every copy of each of `rules` (nothing to delete, or no tool, is not an error). */
export async function deleteRules(tool: string, rules: string[][]): Promise<void> {
  for (const [table, ...rule] of rules) {
    while ((await runTool(tool, ['-w', '-t', table!, '-D', ...rule]).catch(() => ({ exitCode: 1 }))).exitCode === 0);
  }
}
