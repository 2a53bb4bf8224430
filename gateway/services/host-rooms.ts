import { EntityManager, In } from 'typeorm';
import { BadInputError, ConflictError, RspError } from '../errors';
import { capacityOf, ExchangeStatus, HostEntity, OfferEntity, ResourceEntity, ShareEntity } from '../persistence/entities';
import { humanAmount } from '../placement/amount-text';

/** Amounts closer than this are equal (floating point sums of quotas). */
export const AMOUNT_EPSILON = 1e-9;

/** What an offer, an acceptance or a grant asks of one host. */
export interface RoomAsk {
  type: string;
  unit: string;
  amount: number;
  /** Technologies that must all run on the host: an offer's own. */
  offered?: readonly string[];
  /** Technologies of which one must run there (and be among `offered` when those are named): a need's. */
  acceptable?: readonly string[];
  /** The offer being drawn on: its own promise does not count against it. */
  exceptOfferId?: string;
}

/**
 * The hosts, resources, shares and open offers of some hosts: what the exchange checks asks
 * against. Room for a resource type = its capacity (total − reserved) × allocation ratio, minus
 * what shares already give of it and what other open offers on the host promise.
 */
export class HostRooms {
  private constructor(
    /** The hosts loaded, by id. */
    readonly hosts: ReadonlyMap<string, HostEntity>,
    private readonly resources: readonly ResourceEntity[],
    private readonly shares: readonly ShareEntity[],
    private readonly offers: readonly OfferEntity[],
  ) {}

  /** Reads what `hostIds` have and give (inside the caller's transaction when `m` is one). */
  static async load(m: EntityManager, hostIds: readonly string[]): Promise<HostRooms> {
    const ids = [...new Set(hostIds)];
    if (!ids.length) return new HostRooms(new Map(), [], [], []);
    const hosts = await m.getRepository(HostEntity).findBy({ id: In(ids) });
    const resources = await m.getRepository(ResourceEntity).findBy({ hostId: In(ids) });
    const shares = await m.getRepository(ShareEntity).findBy({ hostId: In(ids) });
    const offers = await m.getRepository(OfferEntity).findBy({ hostId: In(ids), status: ExchangeStatus.OPEN });
    return new HostRooms(new Map(hosts.map((h) => [h.id, h])), resources, shares, offers);
  }

  /** Why the host cannot take `ask` (naming the host, the resource and the amounts), or null when it can. */
  refusal(hostId: string, ask: RoomAsk): RspError | null {
    const host = this.hosts.get(hostId);
    if (!host) return new BadInputError(`Host ${hostId} is not known`, { hostId });
    const name = host.hostname;
    const resource = this.resources.find((r) => r.hostId === hostId && r.type === ask.type);
    if (!resource) return new BadInputError(`Host ${name} has no ${ask.type} resource`, { hostId, type: ask.type });
    if (resource.unit !== ask.unit) return new BadInputError(`Host ${name} counts ${ask.type} in ${resource.unit}, not ${ask.unit}`, { hostId, type: ask.type, unit: resource.unit });
    const offered = ask.offered ?? [];
    const missing = offered.filter((t) => !host.drivers.includes(t));
    if (missing.length) {
      return new BadInputError(`Host ${name} does not run ${missing.join(', ')}: it runs ${runs(host.drivers)}`, { hostId, missing, drivers: host.drivers });
    }
    const acceptable = ask.acceptable ?? [];
    if (acceptable.length) {
      const available = offered.length ? offered : host.drivers;
      if (!acceptable.some((t) => available.includes(t))) {
        return new BadInputError(`Host ${name} offers ${runs(available)}, none of the technologies needed (${acceptable.join(', ')})`, { hostId, needed: [...acceptable], drivers: [...available] });
      }
    }
    const capacity = capacityOf(resource);
    const details = { hostId, type: ask.type, unit: resource.unit, wanted: ask.amount, capacity };
    if (ask.amount > capacity + AMOUNT_EPSILON) {
      return new BadInputError(`Host ${name} has ${humanAmount(capacity, resource.unit)} of ${ask.type} in all: ${humanAmount(ask.amount, resource.unit)} wanted`, details);
    }
    const shared = this.shares.filter((s) => s.hostId === hostId).reduce((sum, s) => sum + (s.quotas[ask.type] ?? 0), 0);
    const promised = this.offers.filter((o) => o.hostId === hostId && o.resourceType === ask.type && o.id !== ask.exceptOfferId).reduce((sum, o) => sum + o.remaining, 0);
    const left = capacity - shared - promised;
    if (ask.amount > left + AMOUNT_EPSILON) {
      const amount = (value: number) => humanAmount(value, resource.unit);
      return new ConflictError(`Host ${name}: ${ask.type} is short: ${amount(ask.amount)} wanted, ${amount(Math.max(0, left))} of ${amount(capacity)} left (${amount(shared)} shared, ${amount(promised)} promised in open offers)`, { ...details, left: Math.max(0, left), shared, promised });
    }
    return null;
  }

  /**
   * The first of `hostIds` that can take `ask` (each with the offer drawn on there, if any); the
   * refusals of all of them joined in one error when none can (CONFLICT when one is only short).
   */
  pick(hostIds: readonly string[], ask: (hostId: string) => RoomAsk, none: string): string {
    const refusals: RspError[] = [];
    for (const hostId of hostIds) {
      const refusal = this.refusal(hostId, ask(hostId));
      if (!refusal) return hostId;
      refusals.push(refusal);
    }
    if (!refusals.length) throw new BadInputError(none);
    if (refusals.length === 1) throw refusals[0]!;
    const message = `${none}: ${refusals.map((r) => r.message).join('; ')}`;
    const details = { refusals: refusals.map((r) => ({ message: r.message, ...r.details })) };
    throw refusals.some((r) => r.category === 'CONFLICT') ? new ConflictError(message, details) : new BadInputError(message, details);
  }
}

/** A list of technologies for a message. */
function runs(technologies: readonly string[]): string {
  return technologies.length ? technologies.join(', ') : 'no technology';
}
