import { DataSource, EntityManager, In, Repository } from 'typeorm';
import type { ExchangeEventPayload } from '../events/events';
import { RspPubSub, Topic } from '../events/pubsub';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { ExchangeStatus, GroupEntity, HostEntity, MemberRole, NeedEntity, OfferEntity, ResourceUnit, ShareEntity } from '../persistence/entities';
import { inventoryChanged } from '../placement/inventory-changes';
import { AMOUNT_EPSILON, HostRooms, RoomAsk } from './host-rooms';
import { validateTypeAndUnit } from './resource-service';
import { ShareService } from './share-service';
import { requireGroupRoom } from '../limits/group-records';
import { checkListedText } from '../limits/listed-text';
import { humanAmount } from '../placement/amount-text';

/** A need and the open offers (of other groups) that can each cover it on a host running a technology it accepts. */
export interface SatisfiableNeed {
  need: NeedEntity;
  offers: OfferEntity[];
  offered: number;
}

/** What an acceptance or a grant made: the receiving group's share on the host, and the offer and need as they are now. */
export interface Exchange {
  share: ShareEntity;
  hostId: string;
  amount: number;
  offer: OfferEntity | null;
  need: NeedEntity | null;
}

/**
 * What groups offer and what they need (seed 000: "inform other groups about the resources they
 * have and need"), and the exchange that turns them into shares: an offer is checked against its
 * host's room and technologies; accepting an offer or granting a need gives the receiving group a
 * share of that host, in one transaction.
 */
export class OfferService {
  private readonly offers: Repository<OfferEntity>;
  private readonly needs: Repository<NeedEntity>;
  private readonly owners: HostOwners;

  constructor(
    private readonly dataSource: DataSource,
    private readonly shares: ShareService,
    private readonly pubSub?: RspPubSub,
  ) {
    this.offers = dataSource.getRepository(OfferEntity);
    this.needs = dataSource.getRepository(NeedEntity);
    this.owners = new HostOwners(dataSource);
  }

  /**
   * Publishes an offer. On a host: the group must own it, the host must describe the resource in
   * that unit, run every technology named, and have the amount left (BAD_USER_INPUT beyond its
   * capacity, CONFLICT beyond what shares and open offers leave). Without a host: one of the
   * group's hosts must be able to take it.
   */
  async publishOffer(actor: Principal, input: { groupId: string; hostId?: string | null; resourceType: string; unit: ResourceUnit; amount: number; technologies?: string[]; terms?: string }): Promise<OfferEntity> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'publish offers for this group');
    validateTypeAndUnit(input.resourceType, input.unit);
    if (!(input.amount > 0)) throw new BadInputError('amount must be positive', { amount: input.amount });
    checkListedText({ lists: { technologies: input.technologies } });
    const technologies = [...new Set(input.technologies ?? [])];
    return this.dataSource.transaction(async (m) => {
      const ask: RoomAsk = { type: input.resourceType, unit: input.unit, amount: input.amount, offered: technologies };
      if (input.hostId) {
        const host = await m.getRepository(HostEntity).findOne({ where: { id: input.hostId }, lock: { mode: 'pessimistic_write' } });
        if (!host) throw new NotFoundError('Host', input.hostId);
        if (host.ownerGroupId !== input.groupId) throw new BadInputError('A group can only offer capacity on hosts it owns', { hostId: input.hostId });
        const refusal = (await HostRooms.load(m, [host.id])).refusal(host.id, ask);
        if (refusal) throw refusal;
      } else {
        const hostIds = await this.lockOwnedHosts(m, input.groupId);
        (await HostRooms.load(m, hostIds)).pick(hostIds, () => ask, `No host of group ${await this.slugOf(m, input.groupId)} can take this offer`);
      }
      const repo = m.getRepository(OfferEntity);
      await requireGroupRoom(repo, { groupId: input.groupId, status: ExchangeStatus.OPEN }, input.groupId, 'openOffers');
      return repo.save(repo.create({ ...input, hostId: input.hostId ?? null, technologies, remaining: input.amount, status: ExchangeStatus.OPEN }));
    });
  }

  async publishNeed(actor: Principal, input: { groupId: string; resourceType: string; unit: ResourceUnit; amount: number; technologies?: string[]; description?: string }): Promise<NeedEntity> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'publish needs for this group');
    validateTypeAndUnit(input.resourceType, input.unit);
    if (!(input.amount > 0)) throw new BadInputError('amount must be positive', { amount: input.amount });
    checkListedText({ lists: { technologies: input.technologies } });
    return this.dataSource.transaction(async (m) => {
      const needs = m.getRepository(NeedEntity);
      await requireGroupRoom(needs, { groupId: input.groupId, status: ExchangeStatus.OPEN }, input.groupId, 'openNeeds');
      return needs.save(needs.create({ ...input, remaining: input.amount, status: ExchangeStatus.OPEN }));
    });
  }

  /** Withdraws an offer or a need of the caller's group. */
  async withdraw(actor: Principal, kind: 'offer' | 'need', id: string): Promise<boolean> {
    const repo: Repository<OfferEntity | NeedEntity> = kind === 'offer' ? this.offers : this.needs;
    const row = await repo.findOneBy({ id });
    if (!row) throw new NotFoundError(kind === 'offer' ? 'Offer' : 'Need', id);
    policy.requireRole(actor, row.groupId, MemberRole.MEMBER, `withdraw this ${kind}`);
    await repo.delete({ id });
    return true;
  }

  async listOffers(actor: Principal, groupId?: string, status?: ExchangeStatus): Promise<OfferEntity[]> {
    policy.requireAuthenticated(actor);
    return this.offers.find({ where: { ...(groupId ? { groupId } : {}), ...(status ? { status } : {}) }, order: { createdAt: 'ASC' } });
  }

  async listNeeds(actor: Principal, groupId?: string, status?: ExchangeStatus): Promise<NeedEntity[]> {
    policy.requireAuthenticated(actor);
    return this.needs.find({ where: { ...(groupId ? { groupId } : {}), ...(status ? { status } : {}) }, order: { createdAt: 'ASC' } });
  }

  /**
   * Open needs that open offers of other groups can cover, each offer alone: same type and unit,
   * enough left of the offer, and a host (the offer's, or for an offer without one, one of its
   * group's) that runs a technology the need accepts and has the amount left.
   */
  async satisfiableNeeds(actor: Principal): Promise<SatisfiableNeed[]> {
    const [needs, offers] = await Promise.all([this.listNeeds(actor, undefined, ExchangeStatus.OPEN), this.listOffers(actor, undefined, ExchangeStatus.OPEN)]);
    if (!needs.length || !offers.length) return [];
    const owned = await this.ownedHosts(this.dataSource.manager, [...new Set(offers.filter((o) => !o.hostId).map((o) => o.groupId))]);
    const rooms = await HostRooms.load(this.dataSource.manager, [...offers.flatMap((o) => (o.hostId ? [o.hostId] : [])), ...[...owned.values()].flat()]);
    const out: SatisfiableNeed[] = [];
    for (const need of needs) {
      const matching = offers.filter((o) => {
        if (o.groupId === need.groupId || o.resourceType !== need.resourceType || o.unit !== need.unit || o.remaining + AMOUNT_EPSILON < need.remaining) return false;
        const ask: RoomAsk = { type: need.resourceType, unit: need.unit, amount: need.remaining, offered: o.technologies, acceptable: need.technologies, exceptOfferId: o.id };
        return (o.hostId ? [o.hostId] : (owned.get(o.groupId) ?? [])).some((hostId) => rooms.refusal(hostId, ask) === null);
      });
      if (matching.length) out.push({ need, offers: matching, offered: matching.reduce((sum, o) => sum + o.remaining, 0) });
    }
    return out;
  }

  /**
   * An ADMIN of the receiving group accepts an offer: `amount` of it (default: what the need
   * named still asks, capped by the offer; without a need, all the offer has left) becomes that
   * group's share on the offer's host (for an offer without a host, the first of its group's hosts
   * that can take it). The offer keeps what is left (CLOSED at nothing); the need, when named, is
   * covered by as much (CLOSED once covered). The receiving group is the need's, or the caller's.
   */
  async acceptOffer(actor: Principal, input: { offerId: string; needId?: string | null; amount?: number | null }): Promise<Exchange> {
    const caller = policy.requireAuthenticated(actor);
    const offer = await this.offers.findOneBy({ id: input.offerId });
    if (!offer) throw new NotFoundError('Offer', input.offerId);
    const need = input.needId ? await this.needs.findOneBy({ id: input.needId }) : null;
    if (input.needId && !need) throw new NotFoundError('Need', input.needId);
    const groupId = need?.groupId ?? caller.groupId;
    if (!groupId) throw new BadInputError('Name the need the offer is accepted for: this token belongs to no group', { offerId: offer.id });
    policy.requireRole(actor, groupId, MemberRole.ADMIN, 'accept offers for this group');
    if (offer.groupId === groupId) throw new BadInputError('A group cannot accept its own offer', { offerId: offer.id });
    if (input.amount != null && !(input.amount > 0)) throw new BadInputError('amount must be positive', { amount: input.amount });
    const done = await this.dataSource.transaction(async (m) => {
      const hostIds = offer.hostId ? await this.lockHosts(m, [offer.hostId]) : await this.lockOwnedHosts(m, offer.groupId);
      const o = await this.lockOpen(m, OfferEntity, offer.id, 'Offer');
      const n = need ? await this.lockOpen(m, NeedEntity, need.id, 'Need') : null;
      if (n && (n.resourceType !== o.resourceType || n.unit !== o.unit)) {
        throw new BadInputError(`Offer ${o.id} is of ${o.resourceType} in ${o.unit}; need ${n.id} asks for ${n.resourceType} in ${n.unit}`, { offerId: o.id, needId: n.id });
      }
      const amount = input.amount ?? (n ? Math.min(n.remaining, o.remaining) : o.remaining);
      if (amount > o.remaining + AMOUNT_EPSILON) throw new ConflictError(`Offer ${o.id} has ${humanAmount(o.remaining, o.unit)} of ${o.resourceType} left: ${humanAmount(amount, o.unit)} asked`, { offerId: o.id, remaining: o.remaining, asked: amount });
      const rooms = await HostRooms.load(m, hostIds);
      const ask: RoomAsk = { type: o.resourceType, unit: o.unit, amount, offered: o.technologies, acceptable: n?.technologies ?? [], exceptOfferId: o.id };
      const hostId = rooms.pick(hostIds, () => ask, `No host of group ${await this.slugOf(m, o.groupId)} can give this offer`);
      const share = await this.shares.addQuotaWithin(m, rooms.hosts.get(hostId)!, groupId, o.resourceType, amount);
      return { share, hostId, amount, offer: await this.take(m, o, amount), need: n ? await this.take(m, n, amount) : null };
    });
    inventoryChanged(this.dataSource, [done.hostId]);
    this.announce('OFFER_ACCEPTED', done, offer.groupId);
    return done;
  }

  /**
   * An ADMIN of a host's owner group (or of its site's; site admins: any) grants a need of another
   * group: all the need still asks becomes that group's share on the host. Without `hostId`, the
   * first host the caller's group owns that can take it (those with an open offer of the type
   * first). An open offer of the owner group for the type on that host (or, else, one without a
   * host) is drawn on: it keeps what is left. The need is CLOSED.
   */
  async grantNeed(actor: Principal, input: { needId: string; hostId?: string | null }): Promise<Exchange> {
    const caller = policy.requireAuthenticated(actor);
    const need = await this.needs.findOneBy({ id: input.needId });
    if (!need) throw new NotFoundError('Need', input.needId);
    let ownerGroupId: string;
    if (input.hostId) {
      ownerGroupId = (await this.owners.requireGovernsHost(actor, input.hostId, 'grant needs from this host')).hostOwnerGroupId;
    } else {
      if (!caller.groupId) throw new BadInputError('Name the host to grant the need from: this token belongs to no group', { needId: need.id });
      policy.requireRole(actor, caller.groupId, MemberRole.ADMIN, "grant needs from this group's hosts");
      ownerGroupId = caller.groupId;
    }
    if (need.groupId === ownerGroupId) throw new BadInputError('A group cannot grant its own need from its own host', { needId: need.id });
    const done = await this.dataSource.transaction(async (m) => {
      const hostIds = input.hostId ? await this.lockHosts(m, [input.hostId]) : await this.lockOwnedHosts(m, ownerGroupId);
      const open = await m.getRepository(OfferEntity).find({
        where: { groupId: ownerGroupId, resourceType: need.resourceType, unit: need.unit, status: ExchangeStatus.OPEN },
        order: { createdAt: 'ASC', id: 'ASC' },
        lock: { mode: 'pessimistic_write' },
      });
      const n = await this.lockOpen(m, NeedEntity, need.id, 'Need');
      const drawnOn = (hostId: string) => open.find((o) => o.hostId === hostId) ?? open.find((o) => !o.hostId) ?? null;
      const ordered = [...hostIds].sort((a, b) => Number(!open.some((o) => o.hostId === a)) - Number(!open.some((o) => o.hostId === b)));
      const rooms = await HostRooms.load(m, ordered);
      const hostId = rooms.pick(
        ordered,
        (h) => ({ type: n.resourceType, unit: n.unit, amount: n.remaining, offered: drawnOn(h)?.technologies ?? [], acceptable: n.technologies, exceptOfferId: drawnOn(h)?.id }),
        `No host of group ${await this.slugOf(m, ownerGroupId)} can grant this need`,
      );
      const amount = n.remaining;
      const share = await this.shares.addQuotaWithin(m, rooms.hosts.get(hostId)!, n.groupId, n.resourceType, amount);
      const offer = drawnOn(hostId);
      return { share, hostId, amount, offer: offer ? await this.take(m, offer, Math.min(amount, offer.remaining)) : null, need: await this.take(m, n, amount) };
    });
    inventoryChanged(this.dataSource, [done.hostId]);
    this.announce('NEED_GRANTED', done, ownerGroupId);
    return done;
  }

  /** The row of an offer or need, locked, when it is still OPEN; NOT_FOUND (withdrawn meanwhile) or CONFLICT (CLOSED) otherwise. */
  private async lockOpen<T extends OfferEntity | NeedEntity>(m: EntityManager, entity: new () => T, id: string, kind: 'Offer' | 'Need'): Promise<T> {
    const row = (await m.getRepository(entity).findOne({ where: { id } as never, lock: { mode: 'pessimistic_write' } })) as T | null;
    if (!row) throw new NotFoundError(kind, id);
    if (row.status !== ExchangeStatus.OPEN) throw new ConflictError(`${kind} ${id} is ${row.status}: nothing of it is left`, { id, status: row.status });
    return row;
  }

  /** Takes `amount` off an offer or need (CLOSED once nothing is left) and saves it. */
  private async take<T extends OfferEntity | NeedEntity>(m: EntityManager, row: T, amount: number): Promise<T> {
    row.remaining = Math.max(0, row.remaining - amount);
    if (row.remaining <= AMOUNT_EPSILON) {
      row.remaining = 0;
      row.status = ExchangeStatus.CLOSED;
    }
    return m.save(row);
  }

  /**
   * Locks the rows of hosts and returns their ids; NOT_FOUND for one that does not exist. Every
   * exchange locks hosts first, then offers, then needs, so two never wait on each other in a circle.
   */
  private async lockHosts(m: EntityManager, hostIds: string[]): Promise<string[]> {
    const ids = [...new Set(hostIds)].sort();
    const found = await m.getRepository(HostEntity).find({ where: { id: In(ids) }, order: { id: 'ASC' }, lock: { mode: 'pessimistic_write' } });
    const missing = ids.find((id) => !found.some((h) => h.id === id));
    if (missing) throw new NotFoundError('Host', missing);
    return ids;
  }

  /** Locks the hosts a group owns; their ids by hostname. */
  private async lockOwnedHosts(m: EntityManager, groupId: string): Promise<string[]> {
    const hosts = await m.getRepository(HostEntity).find({ where: { ownerGroupId: groupId }, order: { id: 'ASC' }, lock: { mode: 'pessimistic_write' } });
    return hosts.sort((a, b) => a.hostname.localeCompare(b.hostname)).map((h) => h.id);
  }

  /** The hosts each of `groupIds` owns, by hostname. */
  private async ownedHosts(m: EntityManager, groupIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!groupIds.length) return out;
    const hosts = await m.getRepository(HostEntity).find({ where: { ownerGroupId: In(groupIds) }, order: { hostname: 'ASC' } });
    for (const h of hosts) out.set(h.ownerGroupId, [...(out.get(h.ownerGroupId) ?? []), h.id]);
    return out;
  }

  private async slugOf(m: EntityManager, groupId: string): Promise<string> {
    return (await m.getRepository(GroupEntity).findOneBy({ id: groupId }))?.slug ?? groupId;
  }

  /** Tells both groups (and the site admins) what changed hands, once committed. */
  private announce(change: ExchangeEventPayload['change'], done: Exchange, fromGroupId: string): void {
    const exchange: ExchangeEventPayload = {
      change,
      shareId: done.share.id,
      hostId: done.hostId,
      fromGroupId,
      toGroupId: done.share.groupId,
      offerId: done.offer?.id ?? null,
      needId: done.need?.id ?? null,
      resourceType: done.offer?.resourceType ?? done.need!.resourceType,
      unit: done.offer?.unit ?? done.need!.unit,
      amount: done.amount,
    };
    for (const groupId of [fromGroupId, done.share.groupId]) this.pubSub?.publish(Topic.EVENT, { kind: 'EXCHANGE', at: Date.now(), groupId, siteId: null, exchange });
  }
}
