import type { EntityManager } from 'typeorm';
import { ipv4Text } from '../../drivers/host/ipv4';
import { ConflictError } from '../errors';
import { EnvironmentAddressEntity, HostEntity, type AssignedAddress, type PublishedPort } from '../persistence/entities';
import { assignable, assignableCount, hostAddressRange, ipv6At, managedNetworkName, parseIpv6Range, rangeGateway, rangeText } from './address-range';

/**
 * The network resources environments hold on their host, inside the caller's transaction: an
 * address of the host's range and published host ports. Uniqueness is the database's (primary
 * keys per host), so two transactions racing for one address or port never both get it.
 */

/** The class key of the advisory lock (per host) under which addresses are taken (shared) and a host's IPv6 range is changed (exclusive). */
const RANGE_LOCK = 24_006;

/**
 * Takes the lowest free address of the host's range for the environment and, when the host has an
 * IPv6 range, the IPv6 address of the same index in it (both held in `environment_address`).
 * CONFLICT with `reason: ADDRESS_POOL_EXHAUSTED` when every address is held.
 */
export async function assignAddress(m: EntityManager, hostId: string, environmentId: string): Promise<AssignedAddress> {
  await m.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [RANGE_LOCK, hostId]);
  const host = await m.getRepository(HostEntity).findOneByOrFail({ id: hostId });
  const range = hostAddressRange(host);
  const range6 = host.ipv6Range ? parseIpv6Range(host.ipv6Range) : undefined;
  const held = new Set((await m.getRepository(EnvironmentAddressEntity).find({ select: { address: true }, where: { hostId } })).map((a) => a.address));
  const claim = async (address: string, family: 'IPv4' | 'IPv6'): Promise<boolean> => {
    if (held.has(address)) return false;
    const taken: unknown[] = await m.query(`INSERT INTO "environment_address" ("hostId", "address", "environmentId", "family") VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING "address"`, [hostId, address, environmentId, family]);
    return taken.length > 0;
  };
  for (const value of assignable(range)) {
    const address = ipv4Text(value);
    const address6 = range6 ? ipv6At(range6, value - range.network) : undefined;
    if (held.has(address) || (address6 && held.has(address6))) continue;
    if (!(await claim(address, 'IPv4'))) continue;
    if (address6 && !(await claim(address6, 'IPv6'))) {
      await m.query(`DELETE FROM "environment_address" WHERE "hostId" = $1 AND "address" = $2`, [hostId, address]);
      continue;
    }
    const ipv6 = range6 && address6 ? { ipv6: `${address6}/64`, gateway6: ipv6At(range6, 1) } : {};
    return { network: managedNetworkName(host.id), ipv4: `${address}/${range.prefix}`, gateway: ipv4Text(rangeGateway(range)), ...ipv6 };
  }
  throw new ConflictError(`Host ${host.hostname} has no free address left: all ${assignableCount(range)} of its range ${rangeText(range)} are held`, { reason: 'ADDRESS_POOL_EXHAUSTED', hostId, addressRange: rangeText(range) });
}

/**
 * Publishes the host ports for the environment. CONFLICT with `reason: HOST_PORT_TAKEN`, naming
 * the port, when another environment of the host publishes one of them.
 */
export async function publishPorts(m: EntityManager, hostId: string, environmentId: string, ports: PublishedPort[]): Promise<void> {
  for (const p of ports) {
    const taken: unknown[] = await m.query(`INSERT INTO "host_port" ("hostId", "protocol", "hostPort", "environmentId", "port") VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING "hostPort"`, [hostId, p.protocol, p.hostPort, environmentId, p.port]);
    if (taken.length) continue;
    throw new ConflictError(`Host port ${p.hostPort}/${p.protocol} is already published to another environment of this host`, { reason: 'HOST_PORT_TAKEN', hostId, hostPort: p.hostPort, protocol: p.protocol });
  }
}

/** Gives back every address and host port the environment holds (on any host). */
export async function releaseNetwork(m: EntityManager, environmentId: string): Promise<void> {
  // One statement for both tables.
  await m.query(`WITH address AS (DELETE FROM "environment_address" WHERE "environmentId" = $1) DELETE FROM "host_port" WHERE "environmentId" = $1`, [environmentId]);
}

/**
 * Sets the host's IPv6 range (a CIDR of `ipv6RangeText`, or null: none) inside the caller's
 * transaction, once no environment takes an address meanwhile. A different range (or none) while
 * environments of the host hold IPv6 addresses of the old one is CONFLICT with `reason:
 * IPV6_ADDRESSES_HELD`, listing them (id, name, address): their engines configured those
 * addresses, so they are destroyed (or moved) before the host is renumbered. Setting the same
 * range again changes nothing; turning IPv6 on leaves the environments made before IPv4 only.
 */
export async function changeIpv6Range(m: EntityManager, host: HostEntity, ipv6Range: string | null): Promise<HostEntity> {
  await m.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RANGE_LOCK, host.id]);
  const current = await m.getRepository(HostEntity).findOneByOrFail({ id: host.id });
  if (current.ipv6Range === ipv6Range) return current;
  const held: Array<{ id: string; name: string; address: string }> = await m.query(
    `SELECT e.id, e.name, a.address FROM "environment_address" a JOIN "environment" e ON e.id = a."environmentId" WHERE a."hostId" = $1 AND a.family = 'IPv6' ORDER BY e.name, e.id`,
    [host.id],
  );
  if (held.length) {
    const listed = held.slice(0, 10).map((e) => `${e.name} (${e.address})`).join(', ');
    throw new ConflictError(
      `Host ${current.hostname}'s IPv6 range ${current.ipv6Range} cannot become ${ipv6Range ?? 'none'}: ${held.length} environment(s) hold addresses of it: ${listed}${held.length > 10 ? ', …' : ''}. Destroy or move them first`,
      { reason: 'IPV6_ADDRESSES_HELD', hostId: host.id, ipv6Range: current.ipv6Range, environments: held },
    );
  }
  current.ipv6Range = ipv6Range;
  return m.getRepository(HostEntity).save(current);
}
