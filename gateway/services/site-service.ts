import { DataSource, In, IsNull, MoreThan, Not, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { ipv6RangeText, parseAddressRange, parseIpv6Range, rangeText } from '../networks/address-range';
import { changeIpv6Range } from '../networks/host-network';
import { BatchedStatement } from '../persistence/batched-statement';
import { GroupEntity, HostEntity, HostState, LayerEntity, PlacementPolicy, SiteEntity } from '../persistence/entities';
import { inventoryChanged } from '../placement/inventory-changes';
import { AgentHeartbeats } from './agent-heartbeats';
import { DEFAULT_DETECTOR_SETTINGS, staleCutoff } from './failure-detector';
import { effectiveTechnologies, hostTechnologies, usableTechnologies, type ProbedDriver } from './host-technologies';

/** Filters of host discovery. */
export interface HostFilter {
  siteId?: string;
  technology?: string;
  state?: HostState;
  /** Hosts with at least this much free of a resource type. */
  minFree?: { type: string; amount: number };
}

/**
 * Sites and the hosts in them. Site admins manage both. A host's technologies are facts of its
 * agent (`recordProbe`): the admin may narrow them, not add to them.
 */
export class SiteService {
  private readonly sites: Repository<SiteEntity>;
  private readonly hosts: Repository<HostEntity>;
  /** Per agent id: the technologies its last probe found usable, as reported to this gateway. */
  private readonly probes = new Map<string, string[]>();
  /** The hosts of agents, by hostname, read for many reporting agents in one statement (each caller gets its own copies). */
  private readonly hostsOfAgents = new BatchedStatement<string, HostEntity[]>(async (agentIds) => {
    const rows = await this.hosts.find({ where: { agent: In([...new Set(agentIds)]) }, order: { hostname: 'ASC' } });
    const byAgent = new Map<string, HostEntity[]>();
    for (const h of rows) byAgent.set(h.agent, [...(byAgent.get(h.agent) ?? []), h]);
    return (agentId) => (byAgent.get(agentId) ?? []).map((h) => Object.assign(new HostEntity(), h));
  });

  constructor(
    private readonly dataSource: DataSource,
    /** When each agent was last heard: a host is UP only on the word of a live agent. */
    private readonly beats: AgentHeartbeats = new AgentHeartbeats(DEFAULT_DETECTOR_SETTINGS, () => false),
    /** The id of this gateway's in-process agent: what `agent: local` (or none) at createHost names. */
    private readonly localAgentId = 'local',
    /** Whether an agent is connected, to this gateway or another replica (waiting for one arriving: `AgentLink.soon`). */
    private readonly connected: (agentId: string) => Promise<boolean> | boolean = () => false,
    /** Whether an agent is one of this gateway's in-process agents, connected in its link. */
    private readonly inProcess: (agentId: string) => boolean = () => false,
  ) {
    this.sites = dataSource.getRepository(SiteEntity);
    this.hosts = dataSource.getRepository(HostEntity);
  }

  async createSite(actor: Principal, input: { name: string; location?: string; ownerGroupId: string; placementPolicy?: PlacementPolicy }): Promise<SiteEntity> {
    policy.requireSiteAdmin(actor, 'create sites');
    if (!(await this.dataSource.getRepository(GroupEntity).existsBy({ id: input.ownerGroupId }))) throw new NotFoundError('Group', input.ownerGroupId);
    if (await this.sites.existsBy({ name: input.name })) throw new ConflictError(`A site named "${input.name}" already exists`, { name: input.name });
    return this.sites.save(this.sites.create(input));
  }

  async getSite(actor: Principal, id: string): Promise<SiteEntity> {
    policy.requireAuthenticated(actor);
    const site = await this.sites.findOneBy({ id });
    if (!site) throw new NotFoundError('Site', id);
    return site;
  }

  async listSites(actor: Principal, limit: number, offset: number): Promise<{ items: SiteEntity[]; total: number }> {
    policy.requireAuthenticated(actor);
    const [items, total] = await this.sites.findAndCount({ order: { name: 'ASC' }, take: limit, skip: offset });
    return { items, total };
  }

  /**
   * Registers a host in a site, with its machine layer (arch, site, hostname as properties). Its
   * `drivers` narrow what its agent probed (BAD_USER_INPUT for one the agent cannot run); while
   * the agent never reported, they are taken as declared. With `inventoryFromFacts`, its resources
   * follow its agent's facts (`HostFactsService`).
   */
  async createHost(actor: Principal, input: { siteId: string; ownerGroupId: string; hostname: string; arch?: string; drivers?: string[]; shareUnits?: number; agent?: string; inventoryFromFacts?: boolean; properties?: LayerEntity['properties']; addressRange?: string; ipv6Range?: string }): Promise<HostEntity> {
    policy.requireSiteAdmin(actor, 'register hosts');
    const addressRange = input.addressRange ? rangeText(parseAddressRange(input.addressRange)) : null;
    const ipv6Range = input.ipv6Range ? ipv6RangeText(parseIpv6Range(input.ipv6Range)) : null;
    const site = await this.getSite(actor, input.siteId);
    if (!(await this.dataSource.getRepository(GroupEntity).existsBy({ id: input.ownerGroupId }))) throw new NotFoundError('Group', input.ownerGroupId);
    if (input.shareUnits !== undefined && (!Number.isInteger(input.shareUnits) || input.shareUnits < 1)) throw new BadInputError('shareUnits must be a whole number ≥ 1', { shareUnits: input.shareUnits });
    if (await this.hosts.existsBy({ siteId: site.id, hostname: input.hostname })) {
      throw new ConflictError(`Site ${site.name} already has a host named ${input.hostname}`, { hostname: input.hostname });
    }
    // `local` names the in-process agent of the gateway that got the request, by its stable id.
    const agent = !input.agent || input.agent === 'local' ? this.localAgentId : input.agent;
    const technologies = hostTechnologies(agent, await this.probeOf(agent), input.drivers ?? null);
    const host = await this.dataSource.transaction(async (m) => {
      const arch = input.arch ?? 'x86_64';
      const layer = await m.getRepository(LayerEntity).save(
        m.getRepository(LayerEntity).create({
          kind: 'MACHINE',
          name: input.hostname,
          groupId: input.ownerGroupId,
          parentId: null,
          properties: [
            { key: 'arch', value: arch, locked: true },
            { key: 'site', value: site.name, locked: true },
            { key: 'hostname', value: input.hostname, locked: false },
            ...(input.properties ?? []),
          ],
          requirements: [],
        }),
      );
      const repo = m.getRepository(HostEntity);
      return repo.save(repo.create({ siteId: site.id, ownerGroupId: input.ownerGroupId, hostname: input.hostname, arch, ...technologies, shareUnits: input.shareUnits ?? 1, inventoryFromFacts: input.inventoryFromFacts ?? false, agent, ...this.firstState(agent), layerId: layer.id, addressRange, ipv6Range }));
    });
    inventoryChanged(this.dataSource, [host.id]);
    // Registered UNKNOWN (its agent not heard here yet, or heard before the host was written): UP with its agent's next beat.
    if (host.state === HostState.UNKNOWN) this.beats.rewrite(agent);
    return host;
  }

  /**
   * Records what a host agent's probe found: every host it serves gets the usable technologies as
   * probed, and placement then offers those its admin allows. The in-process agents report when
   * the gateway has probed them; a remote agent reports when it connects.
   */
  async recordProbe(agentId: string, reports: readonly ProbedDriver[]): Promise<HostEntity[]> {
    const probed = usableTechnologies(reports);
    this.probes.set(agentId, probed);
    const hosts = await this.hostsOfAgents.load(agentId);
    const changed: string[] = [];
    // An allowed technology the agent lost stays in the admin's list, out of effect until it comes back.
    for (const host of hosts) {
      const drivers = effectiveTechnologies(probed, host.allowedDrivers);
      // An agent reconnecting with the same drivers (the usual case) costs no write.
      if (sameList(host.probedDrivers, probed) && sameList(host.drivers, drivers)) continue;
      await this.hosts.update(host.id, { probedDrivers: probed, drivers });
      Object.assign(host, { probedDrivers: probed, drivers });
      changed.push(host.id);
    }
    inventoryChanged(this.dataSource, changed);
    return hosts;
  }

  /**
   * Site admins narrow the technologies placement offers on a host to `drivers`, in order of
   * preference (null: everything its agent probed). BAD_USER_INPUT for one its agent cannot run.
   */
  async setHostDrivers(actor: Principal, id: string, drivers: string[] | null): Promise<HostEntity> {
    policy.requireSiteAdmin(actor, 'change the technologies of hosts');
    const host = await this.getHost(actor, id);
    const probed = host.probedDrivers ?? (await this.probeOf(host.agent));
    Object.assign(host, hostTechnologies(host.agent, probed, drivers));
    const saved = await this.hosts.save(host);
    inventoryChanged(this.dataSource, [host.id]);
    return saved;
  }

  /**
   * Site admins set a host's IPv6 range: a /64, `auto` (a new unique local /64) or null (none:
   * IPv4 only). BAD_USER_INPUT for anything else; CONFLICT (`IPV6_ADDRESSES_HELD`, listing them)
   * while environments of the host hold IPv6 addresses of the range it replaces (`changeIpv6Range`).
   */
  async setHostIpv6Range(actor: Principal, id: string, ipv6Range: string | null): Promise<HostEntity> {
    policy.requireSiteAdmin(actor, 'change the IPv6 range of hosts');
    const range = ipv6Range == null ? null : ipv6RangeText(parseIpv6Range(ipv6Range));
    const host = await this.getHost(actor, id);
    return this.dataSource.transaction((m) => changeIpv6Range(m, host, range));
  }

  /** The technologies `agentId` last reported usable, or null when it never reported. */
  private async probeOf(agentId: string): Promise<string[] | null> {
    const known = this.probes.get(agentId);
    if (known) return known;
    // Reported to another gateway replica: its hosts carry the probe.
    const sibling = await this.hosts.findOne({ where: { agent: agentId, probedDrivers: Not(IsNull()) }, order: { hostname: 'ASC' } });
    return sibling?.probedDrivers ?? null;
  }

  async getHost(actor: Principal, id: string): Promise<HostEntity> {
    policy.requireAuthenticated(actor);
    const host = await this.hosts.findOneBy({ id });
    if (!host) throw new NotFoundError('Host', id);
    return host;
  }

  /**
   * Site admins change a host's state (e.g. MAINTENANCE). UP is refused (CONFLICT) unless the
   * host's agent is connected and live — heard within `RSP_HOST_DOWN_AFTER_MS`, by this gateway
   * or another replica: a host is never UP without a live agent connection.
   */
  async setHostState(actor: Principal, id: string, state: HostState): Promise<HostEntity> {
    policy.requireSiteAdmin(actor, 'change host state');
    const host = await this.getHost(actor, id);
    if (state === HostState.UP && host.state !== HostState.UP && !(await this.agentLive(host.agent))) {
      const never = !(await this.hosts.exists({ where: { agent: host.agent, lastHeartbeatAt: Not(IsNull()) } })) && this.beats.lastHeard(host.agent) === undefined;
      throw new ConflictError(
        never
          ? `Host ${host.hostname} cannot be UP: its agent "${host.agent}" never connected (start \`rsp agent\` for it; the host is UP on its first heartbeat)`
          : `Host ${host.hostname} cannot be UP: its agent "${host.agent}" is not connected (no heartbeat for more than ${this.beats.settings.downAfterMs} ms)`,
        { hostId: host.id, agent: host.agent, state: host.state, agentConnected: false },
      );
    }
    host.state = state;
    const saved = await this.hosts.save(host);
    inventoryChanged(this.dataSource, [host.id]);
    return saved;
  }

  /** True when `agentId` is connected and was heard lately: by this gateway, or (another replica's) on one of its hosts. */
  private async agentLive(agentId: string): Promise<boolean> {
    if (!(await this.connected(agentId))) return false;
    if (this.beats.isLive(agentId)) return true;
    // Another replica writes its agents' hosts heard only every `heardWriteEveryMs`.
    const since = staleCutoff(Date.now(), this.beats.settings);
    return this.hosts.exists({ where: { agent: agentId, lastHeartbeatAt: MoreThan(since) } });
  }

  /**
   * The state of a new host of `agentId`: UP (heard now) when its agent is live here (heard lately
   * and in the agent link) or is one of this gateway's in-process agents (it lives in the gateway:
   * connected, it takes work now, even when a busy event loop has held its last beats back), else
   * UNKNOWN until its first heartbeat once it is.
   */
  private firstState(agentId: string): Pick<HostEntity, 'state' | 'lastHeartbeatAt'> {
    if (this.inProcess(agentId)) return { state: HostState.UP, lastHeartbeatAt: new Date() };
    const heard = this.beats.lastHeard(agentId);
    return heard !== undefined && this.beats.isLive(agentId) ? { state: HostState.UP, lastHeartbeatAt: new Date(heard) } : { state: HostState.UNKNOWN, lastHeartbeatAt: null };
  }

  /** Host discovery: by site, technology, state and free capacity of a resource type. */
  async listHosts(actor: Principal, filter: HostFilter, limit: number, offset: number): Promise<{ items: HostEntity[]; total: number }> {
    policy.requireAuthenticated(actor);
    const qb = this.hosts.createQueryBuilder('h');
    if (filter.siteId) qb.andWhere('h.siteId = :siteId', { siteId: filter.siteId });
    if (filter.state) qb.andWhere('h.state = :state', { state: filter.state });
    if (filter.technology) qb.andWhere('h.drivers @> :tech::jsonb', { tech: JSON.stringify([filter.technology]) });
    if (filter.minFree) {
      qb.andWhere(
        `EXISTS (SELECT 1 FROM resource r WHERE r."hostId" = h.id AND r.type = :freeType AND (r.total - r.reserved) * r."allocationRatio" - r.used >= :freeAmount)`,
        { freeType: filter.minFree.type, freeAmount: filter.minFree.amount },
      );
    }
    const [items, total] = await qb.orderBy('h.hostname', 'ASC').addOrderBy('h.id', 'ASC').take(limit).skip(offset).getManyAndCount();
    return { items, total };
  }
}

/** True when both lists hold the same items in the same order (null and undefined equal only each other). */
function sameList(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean {
  if (!a || !b) return (a ?? null) === (b ?? null);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
