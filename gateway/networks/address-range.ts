import { createHash } from 'node:crypto';
import { ipv4Text, ipv4Value, prefixMask } from '../../drivers/host/ipv4';
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
