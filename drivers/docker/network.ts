import type Docker from 'dockerode';
import { ConflictError } from '../errors';
import type { ManagedNetwork } from '../host/managed-network';
import { assertIpv6Available } from '../host/ipv6';
import { deleteRules, egressRules6, insertRules } from '../host/ipv6-egress';
import { KeyedQueue } from '../host/keyed-queue';
import { engineMessage } from './engine-errors';

/** The label on every Docker network the driver makes (its value: the network's subnet). */
export const LABEL_NETWORK = 'rsp.network';

export { managedNetworkOf, type ManagedNetwork } from '../host/managed-network';

/**
 * The managed networks of one engine: made on first use (idempotently: an existing one of the
 * same subnet is used, another subnet under the name is a CONFLICT) and removed when no
 * container of the engine is attached any more. Calls on one network run one after another.
 * On a local engine, a network's IPv6 range also gets the host's ip6tables rules that let it out
 * (`egressRules6`: NAT66 for a unique local range), which this engine leaves to its experimental
 * `ip6tables` switch; they go with the network.
 */
export class ManagedNetworks {
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly engine: Docker,
    /** Whether the engine runs on this machine (its firewall is this one's). */
    private readonly local: () => boolean = () => false,
    private readonly ip6tables = 'ip6tables',
  ) {}

  /**
   * Makes the network unless it exists with the same subnet (and, when the network has an IPv6
   * side, the same /64: an engine network without it is made again while nothing is attached,
   * else CONFLICT). An IPv6 side on a host with IPv6 off is UNSUPPORTED_OPERATION with the reason.
   */
  ensure(network: ManagedNetwork): Promise<void> {
    return this.queue.run(network.name, async () => {
      if (network.ipv6) await assertIpv6Available(`Docker network ${network.name}`);
      const found = await this.inspect(network.name);
      if (found) {
        const subnets = (found.IPAM?.Config ?? []).map((c) => c.Subnet);
        if (!subnets.includes(network.subnet)) throw new ConflictError(`Docker network ${network.name} exists with subnet ${subnets.join(', ') || 'none'}, not ${network.subnet}`, { network: network.name, subnet: network.subnet });
        if (!network.ipv6) return;
        if (subnets.includes(network.ipv6.subnet)) return this.allowEgress6(network.ipv6.subnet);
        const attached = await this.engine.listContainers({ all: true, filters: { network: [network.name] } });
        if (attached.length || !found.Labels?.[LABEL_NETWORK]) throw new ConflictError(`Docker network ${network.name} exists without IPv6 subnet ${network.ipv6.subnet} and ${attached.length} container(s) use it: it can be made again with it once they are gone`, { network: network.name, subnet6: network.ipv6.subnet });
        await this.engine.getNetwork(network.name).remove();
      }
      try {
        await this.engine.createNetwork({
          Name: network.name,
          Driver: 'bridge',
          CheckDuplicate: true,
          ...(network.ipv6 ? { EnableIPv6: true } : {}),
          IPAM: { Driver: 'default', Config: [{ Subnet: network.subnet, Gateway: network.gateway }, ...(network.ipv6 ? [{ Subnet: network.ipv6.subnet, Gateway: network.ipv6.gateway }] : [])] },
          Labels: { [LABEL_NETWORK]: network.subnet },
        });
      } catch (e) {
        if (!((e as { statusCode?: number }).statusCode === 409 && (await this.inspect(network.name)))) throw new ConflictError(`Docker refused to make network ${network.name} (${network.subnet}): ${engineMessage(e)}`, { network: network.name, subnet: network.subnet });
        // else made meanwhile by another agent on this engine
      }
      if (network.ipv6) await this.allowEgress6(network.ipv6.subnet);
    });
  }

  /** Removes the network when it is RSP's and no container (running or not) is attached to it any more. */
  release(name: string): Promise<void> {
    return this.queue.run(name, async () => {
      const found = await this.inspect(name);
      if (!found?.Labels?.[LABEL_NETWORK]) return;
      const attached = await this.engine.listContainers({ all: true, filters: { network: [name] } });
      if (attached.length) return;
      await this.engine.getNetwork(name).remove().catch(() => undefined);
      const subnet6 = (found.IPAM?.Config ?? []).map((c) => c.Subnet).find((s) => s?.includes(':'));
      if (subnet6 && this.local() && !(await this.inspect(name))) await deleteRules(this.ip6tables, egressRules6(subnet6));
    });
  }

  /** The host's ip6tables rules letting the IPv6 range out (a local engine only; each made once). */
  private async allowEgress6(subnet6: string): Promise<void> {
    if (this.local()) await insertRules(this.ip6tables, egressRules6(subnet6), `letting IPv6 range ${subnet6} out of the host`);
  }

  private async inspect(name: string): Promise<Docker.NetworkInspectInfo | undefined> {
    try {
      return (await this.engine.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }
}
