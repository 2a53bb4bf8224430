import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { UnsupportedOperationError } from '../errors';

/** The eight 16-bit groups of an IPv6 address (no embedded IPv4, no zone); undefined when it is not one. */
export function ipv6Groups(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes('.') || text.includes('%')) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(zeros).fill('0'), ...right].map((g) => parseInt(g, 16));
}

/** The canonical (RFC 5952) text of eight 16-bit groups: lower case, the longest run of two or more zero groups as `::`. */
export function ipv6Text(groups: number[]): string {
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.length).join(':')}`;
}

/** The kernel switch that turns IPv6 off on every interface. */
const DISABLE_IPV6 = '/proc/sys/net/ipv6/conf/all/disable_ipv6';

/**
 * Refuses, with the reason, an IPv6 address on a host whose kernel has IPv6 off (`net.ipv6.conf.all.disable_ipv6 = 1`)
 * or lacks it: UNSUPPORTED_OPERATION naming the switch and what to do. `switchPath` is the switch's file (another one in tests).
 */
export async function assertIpv6Available(what: string, switchPath = DISABLE_IPV6): Promise<void> {
  const switchText = await readFile(switchPath, 'utf8').catch(() => undefined);
  if (switchText === undefined) throw new UnsupportedOperationError('IPv6 addresses', what, `this host's kernel has no IPv6 (${switchPath} is missing): clear the host's ipv6Range`);
  if (switchText.trim() !== '0') throw new UnsupportedOperationError('IPv6 addresses', what, `this host's kernel has IPv6 disabled (net.ipv6.conf.all.disable_ipv6 = ${switchText.trim()}): turn it on (sysctl -w net.ipv6.conf.all.disable_ipv6=0) or clear the host's ipv6Range`);
}
