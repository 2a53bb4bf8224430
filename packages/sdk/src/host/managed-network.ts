import type { NetworkSpec } from '../contract';
import { BadInputError } from '../errors';
import { ipv4Text, ipv4Value, prefixMask } from './ipv4';
import { ipv6Groups, ipv6Text } from './ipv6';

/** A managed network as a spec names it (feature `managedNetwork`, `network.network`): the engine network, its subnet and gateway. */
export interface ManagedNetwork {
  name: string;
  /** `a.b.c.d/p`, the network address of the spec's `ipv4`. */
  subnet: string;
  gateway: string;
  /** The environment's address, without prefix. */
  address: string;
  /** Its IPv6 side, when the spec asks for one: the /64 (`fd…::/64`), the host's address on it and the environment's (without prefix). */
  ipv6?: { subnet: string; gateway: string; address: string };
}

/** The managed network a spec asks for (a `network` name, an `ipv4` with prefix and a `gateway`), or undefined when it asks for none. */
export function managedNetworkOf(network: NetworkSpec | undefined): ManagedNetwork | undefined {
  if (network?.mode !== 'bridge' || !network.network) return undefined;
  if (!network.ipv4 || !network.gateway) throw new BadInputError(`managed network ${network.network} needs network.ipv4 and network.gateway`, { network: network.network });
  const [address, prefixText] = network.ipv4.split('/');
  const prefix = Number(prefixText);
  const value = ipv4Value(address ?? '');
  if (value === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new BadInputError(`network.ipv4 "${network.ipv4}" is not an IPv4 address with a prefix of 8–30`, { ipv4: network.ipv4 });
  if (ipv4Value(network.gateway) === undefined) throw new BadInputError(`network.gateway "${network.gateway}" is not an IPv4 address`, { gateway: network.gateway });
  const mask = prefixMask(prefix);
  return { name: network.network, subnet: `${ipv4Text((value & mask) >>> 0)}/${prefix}`, gateway: network.gateway, address: address!, ...(network.ipv6 || network.gateway6 ? { ipv6: ipv6Of(network) } : {}) };
}

/** The IPv6 side of a managed network: `ipv6` an address with prefix 64, `gateway6` an address of the same /64. */
function ipv6Of(network: NetworkSpec): { subnet: string; gateway: string; address: string } {
  const [address, prefixText, ...rest] = (network.ipv6 ?? '').split('/');
  const groups = ipv6Groups(address ?? '');
  if (!groups || prefixText !== '64' || rest.length) throw new BadInputError(`network.ipv6 "${network.ipv6 ?? ''}" is not an IPv6 address with prefix 64`, { ipv6: network.ipv6 });
  const gateway = ipv6Groups(network.gateway6 ?? '');
  if (!gateway || gateway.slice(0, 4).some((g, i) => g !== groups[i])) throw new BadInputError(`network.gateway6 "${network.gateway6 ?? ''}" is not an IPv6 address of ${network.ipv6}'s /64`, { gateway6: network.gateway6 });
  return { subnet: `${ipv6Text([...groups.slice(0, 4), 0, 0, 0, 0])}/64`, gateway: ipv6Text(gateway), address: ipv6Text(groups) };
}

