import { createHash, randomBytes } from 'node:crypto';
import { ipv4Text, ipv4Value, prefixMask } from '../../drivers/host/ipv4';
import { ipv6Groups, ipv6Text } from '../../drivers/host/ipv6';
import { BadInputError } from '../errors';

/** An IPv4 range of a host: its network address and prefix length. */
export interface AddressRange {
  /** The network address as a 32-bit value. */
  network: number;
  prefix: number;
}

/**
 * Where default ranges come from: a /24 of 10.128.0.0/9 per host, picked from a hash of its id.
 * Private, and far from Docker's own 172.17.0.0/16, LXC's 10.0.3.0/24 and libvirt's
 * 192.168.122.0/24; distinct hosts (even of separate gateways on one engine) get distinct
 * ranges unless 1 in 32768.
 */
const DEFAULT_POOL = { network: ipv4Value('10.128.0.0')!, prefix: 9 };

/** Reads a CIDR range (`10.42.0.0/24`); BAD_USER_INPUT unless it is an IPv4 network of prefix 8–29 with its host bits zero. */
export function parseAddressRange(text: string): AddressRange {
  const [address, prefixText, ...rest] = text.trim().split('/');
  const network = ipv4Value(address ?? '');
  const prefix = Number(prefixText);
  if (network === undefined || rest.length || !/^\d{1,2}$/.test(prefixText ?? '') || prefix < 8 || prefix > 29) throw new BadInputError(`"${text}" is not an IPv4 range such as 10.42.0.0/24 (prefix 8–29)`, { addressRange: text });
  if ((network & ~prefixMask(prefix)) >>> 0 !== 0) throw new BadInputError(`${text} has host bits set: its network is ${ipv4Text((network & prefixMask(prefix)) >>> 0)}/${prefix}`, { addressRange: text });
  return { network, prefix };
}

/** The range's CIDR text. */
export function rangeText(range: AddressRange): string {
  return `${ipv4Text(range.network)}/${range.prefix}`;
}

/** The default range of a host without one of its own: a /24 of 10.128.0.0/9 chosen by its id. */
export function defaultAddressRange(hostId: string): AddressRange {
  const slots = 2 ** (24 - DEFAULT_POOL.prefix);
  const slot = createHash('sha256').update(hostId).digest().readUInt32BE(0) % slots;
  return { network: (DEFAULT_POOL.network + slot * 256) >>> 0, prefix: 24 };
}

/** The range a host's environments take their addresses from. */
export function hostAddressRange(host: { id: string; addressRange: string | null }): AddressRange {
  return host.addressRange ? parseAddressRange(host.addressRange) : defaultAddressRange(host.id);
}

/** The gateway of a range (the host's side of its network): its first address. */
export function rangeGateway(range: AddressRange): number {
  return range.network + 1;
}

/** The addresses environments may hold, in order: all but the network, the gateway and the broadcast address. */
export function* assignable(range: AddressRange): Generator<number> {
  const last = range.network + 2 ** (32 - range.prefix) - 2;
  for (let a = range.network + 2; a <= last; a++) yield a;
}

/** How many addresses of a range environments may hold. */
export function assignableCount(range: AddressRange): number {
  return 2 ** (32 - range.prefix) - 3;
}

/** The name of a host's managed network on its engines: `rsp-` and the start of its id (short enough for a Linux bridge name). */
export function managedNetworkName(hostId: string): string {
  return `rsp-${hostId.replace(/-/g, '').slice(0, 10)}`;
}

/** An IPv6 /64 of a host: its first four 16-bit groups. */
export type Ipv6Range = number[];

/**
 * Reads a host's IPv6 range: `auto` is a new unique local /64 (`fd` and 40 random bits, RFC 4193,
 * subnet 0); else an IPv6 network of prefix 64 with its host bits zero. BAD_USER_INPUT otherwise.
 */
export function parseIpv6Range(text: string): Ipv6Range {
  if (text.trim() === 'auto') {
    const b = randomBytes(5);
    return [0xfd00 | b[0]!, (b[1]! << 8) | b[2]!, (b[3]! << 8) | b[4]!, 0];
  }
  const [address, prefixText, ...rest] = text.trim().split('/');
  const groups = ipv6Groups(address ?? '');
  if (!groups || prefixText !== '64' || rest.length) throw new BadInputError(`"${text}" is not an IPv6 /64 such as fd12:3456:789a::/64 (or auto)`, { ipv6Range: text });
  if (groups.slice(4).some((g) => g !== 0)) throw new BadInputError(`${text} has host bits set: its network is ${ipv6Text([...groups.slice(0, 4), 0, 0, 0, 0])}/64`, { ipv6Range: text });
  return groups.slice(0, 4);
}

/** The IPv6 range's CIDR text. */
export function ipv6RangeText(range: Ipv6Range): string {
  return `${ipv6Text([...range, 0, 0, 0, 0])}/64`;
}

/** The address `index` of an IPv6 range (1: the gateway; an environment takes the index of its IPv4 address in its IPv4 range). */
export function ipv6At(range: Ipv6Range, index: number): string {
  return ipv6Text([...range, 0, 0, Math.floor(index / 65536) & 0xffff, index & 0xffff]);
}
