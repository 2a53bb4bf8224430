import { DataSource, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, NotFoundError } from '../errors';
import { HostEntity, MemberRole, NeedEntity, OfferEntity, ResourceUnit } from '../persistence/entities';
import { validateTypeAndUnit } from './resource-service';

/** A need and the offers (of other groups) that together cover it. */
export interface SatisfiableNeed {
  need: NeedEntity;
  offers: OfferEntity[];
  offered: number;
}

/** What groups offer and what they need (seed 000: "inform other groups about the resources they have and need"). */
export class OfferService {
  private readonly offers: Repository<OfferEntity>;
  private readonly needs: Repository<NeedEntity>;

  constructor(private readonly dataSource: DataSource) {
    this.offers = dataSource.getRepository(OfferEntity);
    this.needs = dataSource.getRepository(NeedEntity);
  }

  async publishOffer(actor: Principal, input: { groupId: string; hostId?: string | null; resourceType: string; unit: ResourceUnit; amount: number; terms?: string }): Promise<OfferEntity> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'publish offers for this group');
    validateTypeAndUnit(input.resourceType, input.unit);
    if (!(input.amount > 0)) throw new BadInputError('amount must be positive', { amount: input.amount });
    if (input.hostId) {
      const host = await this.dataSource.getRepository(HostEntity).findOneBy({ id: input.hostId });
      if (!host) throw new NotFoundError('Host', input.hostId);
      if (host.ownerGroupId !== input.groupId) throw new BadInputError('A group can only offer capacity on hosts it owns', { hostId: input.hostId });
    }
    return this.offers.save(this.offers.create({ ...input, hostId: input.hostId ?? null }));
  }

  async publishNeed(actor: Principal, input: { groupId: string; resourceType: string; unit: ResourceUnit; amount: number; technologies?: string[]; description?: string }): Promise<NeedEntity> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'publish needs for this group');
    validateTypeAndUnit(input.resourceType, input.unit);
    if (!(input.amount > 0)) throw new BadInputError('amount must be positive', { amount: input.amount });
    return this.needs.save(this.needs.create(input));
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

  async listOffers(actor: Principal, groupId?: string): Promise<OfferEntity[]> {
    policy.requireAuthenticated(actor);
    return this.offers.find({ where: groupId ? { groupId } : {}, order: { createdAt: 'ASC' } });
  }

  async listNeeds(actor: Principal, groupId?: string): Promise<NeedEntity[]> {
    policy.requireAuthenticated(actor);
    return this.needs.find({ where: groupId ? { groupId } : {}, order: { createdAt: 'ASC' } });
  }

  /** Needs that current offers of other groups (same type and unit) can cover, with those offers. */
  async satisfiableNeeds(actor: Principal): Promise<SatisfiableNeed[]> {
    const [needs, offers] = await Promise.all([this.listNeeds(actor), this.listOffers(actor)]);
    const out: SatisfiableNeed[] = [];
    for (const need of needs) {
      const matching = offers.filter((o) => o.groupId !== need.groupId && o.resourceType === need.resourceType && o.unit === need.unit);
      const offered = matching.reduce((sum, o) => sum + o.amount, 0);
      if (offered >= need.amount) out.push({ need, offers: matching, offered });
    }
    return out;
  }
}
