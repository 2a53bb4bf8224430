import { DataSource, EntityManager, Repository } from 'typeorm';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { type RspPubSub, Topic } from '../events/pubsub';
import { capacityOf, GroupEntity, HostEntity, ResourceEntity, ShareEntity, ShareKind, UsagePolicyEntity, UsagePolicyMode } from '../persistence/entities';
import { inventoryChanged } from '../placement/inventory-changes';

/** Resource types a FULL or HALF share is sized on (seed 001: half the RAM, disk and bandwidth). */
export const SHARED_TYPES = ['RAM', 'DISK', 'NET_BANDWIDTH'] as const;

/** CPU weight of a full share; a half share gets half (the equivalent of nice 10). */
export const FULL_SHARE_CPU_WEIGHT = 100;

/** Shares: a group's slice of a host, and the quota it sets there. Usage policies of sites. */
export class ShareService {
  private readonly repo: Repository<ShareEntity>;
  private readonly policies: Repository<UsagePolicyEntity>;
  private readonly owners: HostOwners;

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubSub?: RspPubSub,
  ) {
    this.repo = dataSource.getRepository(ShareEntity);
    this.policies = dataSource.getRepository(UsagePolicyEntity);
    this.owners = new HostOwners(dataSource);
  }

  /**
   * The admins governing the host (its owner's or its site's; site admins: any) grant a share. FULL = the host's capacity divided by its `shareUnits`; HALF = half
   * of that with half the CPU weight; CUSTOM = the quotas given. The shares of a host may not add
   * up to more than its capacity (CONFLICT).
   */
  async grant(actor: Principal, input: { hostId: string; groupId: string; kind: ShareKind; quotas?: Record<string, number>; cpuWeight?: number }): Promise<ShareEntity> {
    await this.owners.requireGovernsHost(actor, input.hostId, 'grant shares on this host');
    const share = await this.dataSource.transaction(async (m) => {
      const host = await m.getRepository(HostEntity).findOne({ where: { id: input.hostId }, lock: { mode: 'pessimistic_write' } });
      if (!host) throw new NotFoundError('Host', input.hostId);
      if (!(await m.getRepository(GroupEntity).existsBy({ id: input.groupId }))) throw new NotFoundError('Group', input.groupId);
      if (await m.getRepository(ShareEntity).existsBy({ hostId: host.id, groupId: input.groupId })) {
        throw new ConflictError('This group already has a share on this host', { hostId: host.id, groupId: input.groupId });
      }
      const resources = await m.getRepository(ResourceEntity).findBy({ hostId: host.id });
      const capacity = new Map(resources.map((r) => [r.type, capacityOf(r)]));
      const { quotas, cpuWeight } = sizeShare(input, capacity, host.shareUnits);
      const existing = await m.getRepository(ShareEntity).findBy({ hostId: host.id });
      for (const [type, amount] of Object.entries(quotas)) {
        const cap = capacity.get(type);
        if (cap === undefined) throw new BadInputError(`Host ${host.hostname} has no ${type} resource to share`, { type });
        const granted = existing.reduce((sum, s) => sum + (s.quotas[type] ?? 0), 0);
        if (granted + amount > cap + 1e-9) {
          throw new ConflictError(`The share is larger than what is left of host ${host.hostname}: ${type} ${amount} asked, ${cap - granted} of ${cap} left`, { type, asked: amount, left: cap - granted, capacity: cap });
        }
      }
      const repo = m.getRepository(ShareEntity);
      return repo.save(repo.create({ hostId: host.id, groupId: input.groupId, kind: input.kind, quotas, cpuWeight }));
    });
    inventoryChanged(this.dataSource, [share.hostId]);
    return share;
  }

  /**
   * Inside the caller's transaction (the host's row locked), gives `groupId` `amount` more of
   * `type` on the host: a new CUSTOM share, or its existing share enlarged (it becomes CUSTOM, with
   * the quotas it had plus this). CONFLICT when the host's shares would add up to more than its capacity.
   * The caller says `inventoryChanged` once its transaction committed.
   */
  async addQuotaWithin(m: EntityManager, host: HostEntity, groupId: string, type: string, amount: number): Promise<ShareEntity> {
    const repo = m.getRepository(ShareEntity);
    const resource = await m.getRepository(ResourceEntity).findOneBy({ hostId: host.id, type });
    if (!resource) throw new BadInputError(`Host ${host.hostname} has no ${type} resource to share`, { hostId: host.id, type });
    const cap = capacityOf(resource);
    const shares = await repo.findBy({ hostId: host.id });
    const granted = shares.reduce((sum, s) => sum + (s.quotas[type] ?? 0), 0);
    if (granted + amount > cap + 1e-9) {
      throw new ConflictError(`The share is larger than what is left of host ${host.hostname}: ${type} ${amount} asked, ${cap - granted} of ${cap} left`, { hostId: host.id, type, asked: amount, left: cap - granted, capacity: cap });
    }
    const existing = shares.find((s) => s.groupId === groupId);
    if (!existing) return repo.save(repo.create({ hostId: host.id, groupId, kind: ShareKind.CUSTOM, quotas: { [type]: amount }, cpuWeight: FULL_SHARE_CPU_WEIGHT }));
    existing.quotas = { ...existing.quotas, [type]: (existing.quotas[type] ?? 0) + amount };
    existing.kind = ShareKind.CUSTOM;
    return repo.save(existing);
  }

  /** The admins governing the share's host (site admins: any) revoke a share; open streams check again who may see what (ACCESS_CHANGED). */
  async revoke(actor: Principal, id: string): Promise<boolean> {
    policy.requireAuthenticated(actor);
    const share = await this.repo.findOneBy({ id });
    if (!share) throw new NotFoundError('Share', id);
    await this.owners.requireGovernsHost(actor, share.hostId, 'revoke shares on this host');
    const result = await this.repo.delete({ id });
    if (!result.affected) throw new NotFoundError('Share', id);
    inventoryChanged(this.dataSource, [share.hostId]);
    this.pubSub?.publish(Topic.ACCESS_CHANGED, { kind: 'share', id });
    return true;
  }

  async list(actor: Principal, filter: { hostId?: string; groupId?: string }): Promise<ShareEntity[]> {
    policy.requireAuthenticated(actor);
    return this.repo.find({ where: { ...(filter.hostId ? { hostId: filter.hostId } : {}), ...(filter.groupId ? { groupId: filter.groupId } : {}) }, order: { createdAt: 'ASC' } });
  }

  /** The share of a group on a host, if any: the quota the allocation issue checks. */
  async shareOf(hostId: string, groupId: string): Promise<ShareEntity | null> {
    return this.repo.findOneBy({ hostId, groupId });
  }

  /**
   * The admins of the group owning the site (site admins: any) set a usage policy: a new one, or
   * the site's policy of that name replaced. A group over it in the site is held back by its mode:
   * REFUSE (default) refuses the group's new work there, THROTTLE lowers its environments there.
   */
  async setUsagePolicy(actor: Principal, input: { siteId: string; name: string; text?: string; bandwidthBytesPerMonth?: number | null; cpuHoursPerMonth?: number | null; diskBytes?: number | null; mode?: UsagePolicyMode }): Promise<UsagePolicyEntity> {
    await this.owners.requireGovernsSite(actor, input.siteId, 'set usage policies of this site');
    for (const key of ['bandwidthBytesPerMonth', 'cpuHoursPerMonth', 'diskBytes'] as const) {
      const v = input[key];
      if (v != null && !(v > 0)) throw new BadInputError(`${key} must be positive`, { [key]: v });
    }
    const existing = await this.policies.findOne({ where: { siteId: input.siteId, name: input.name }, order: { id: 'ASC' } });
    const fields = { text: input.text ?? '', bandwidthBytesPerMonth: input.bandwidthBytesPerMonth ?? null, cpuHoursPerMonth: input.cpuHoursPerMonth ?? null, diskBytes: input.diskBytes ?? null, mode: input.mode ?? UsagePolicyMode.REFUSE };
    const saved = await this.policies.save(existing ? Object.assign(existing, fields) : this.policies.create({ siteId: input.siteId, name: input.name, ...fields }));
    // Which groups a REFUSE policy keeps out of the site's hosts may have changed.
    inventoryChanged(this.dataSource, 'every host');
    return saved;
  }

  async usagePolicies(actor: Principal, siteId: string): Promise<UsagePolicyEntity[]> {
    policy.requireAuthenticated(actor);
    return this.policies.find({ where: { siteId }, order: { name: 'ASC' } });
  }
}

/** Quotas and CPU weight of a share of `kind` on a host with these capacities. */
export function sizeShare(input: { kind: ShareKind; quotas?: Record<string, number>; cpuWeight?: number }, capacity: Map<string, number>, shareUnits: number): { quotas: Record<string, number>; cpuWeight: number } {
  if (input.kind === ShareKind.CUSTOM) {
    if (!input.quotas || !Object.keys(input.quotas).length) throw new BadInputError('A CUSTOM share needs quotas');
    for (const [type, amount] of Object.entries(input.quotas)) {
      if (!(amount > 0)) throw new BadInputError(`Quota ${type} must be positive`, { type, amount });
    }
    const cpuWeight = input.cpuWeight ?? FULL_SHARE_CPU_WEIGHT;
    if (!Number.isInteger(cpuWeight) || cpuWeight < 1 || cpuWeight > 10000) throw new BadInputError('cpuWeight must be a whole number from 1 to 10000', { cpuWeight });
    return { quotas: input.quotas, cpuWeight };
  }
  if (input.quotas) throw new BadInputError(`A ${input.kind} share is sized from the host; give quotas only with CUSTOM`);
  const fraction = (input.kind === ShareKind.HALF ? 0.5 : 1) / shareUnits;
  const quotas: Record<string, number> = {};
  for (const type of SHARED_TYPES) {
    const cap = capacity.get(type);
    if (cap !== undefined) quotas[type] = cap * fraction;
  }
  if (!Object.keys(quotas).length) throw new BadInputError(`The host describes none of ${SHARED_TYPES.join(', ')}: a ${input.kind} share cannot be sized`);
  return { quotas, cpuWeight: input.kind === ShareKind.HALF ? FULL_SHARE_CPU_WEIGHT / 2 : FULL_SHARE_CPU_WEIGHT };
}
