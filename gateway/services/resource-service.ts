import { DataSource, Repository, SelectQueryBuilder } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { capacityOf, ClassRequirement, HostEntity, KNOWN_RESOURCE_UNITS, ResourceClassEntity, ResourceEntity, ResourceSource, ResourceUnit } from '../persistence/entities';
import { rowsOf } from '../placement/claims';
import { inventoryChanged } from '../placement/inventory-changes';

/** Inventory fields of a resource. */
export interface InventoryFields {
  total: number;
  reserved?: number;
  allocationRatio?: number;
  minUnit?: number;
  maxUnit?: number | null;
  stepSize?: number;
}

/** Filters of resource discovery. */
export interface ResourceFilter {
  type?: string;
  hostId?: string;
  siteId?: string;
  technology?: string;
  /** At least this much free. */
  minFree?: number;
  /** Every key must equal the value in `attributes`. */
  attributes?: Record<string, unknown>;
}

const TYPE_PATTERN = /^[A-Z][A-Z0-9_]{0,49}$/;
const UNITS: ReadonlySet<string> = new Set(Object.values(ResourceUnit));

/** Resources of hosts (SRSM-2) with their inventories, and resource classes. */
export class ResourceService {
  private readonly repo: Repository<ResourceEntity>;
  private readonly classes: Repository<ResourceClassEntity>;

  constructor(private readonly dataSource: DataSource) {
    this.repo = dataSource.getRepository(ResourceEntity);
    this.classes = dataSource.getRepository(ResourceClassEntity);
  }

  /**
   * Site admins describe a host's resources. One resource per type and host: a resource its
   * agent's facts made (FACTS) is taken over, becoming the admin's (ADMIN, never touched by facts).
   */
  async create(actor: Principal, input: { hostId: string; type: string; unit: ResourceUnit; description?: string; attributes?: Record<string, unknown> } & InventoryFields): Promise<ResourceEntity> {
    policy.requireSiteAdmin(actor, "describe hosts' resources");
    validateTypeAndUnit(input.type, input.unit);
    validateInventory(input, 0);
    if (!(await this.dataSource.getRepository(HostEntity).existsBy({ id: input.hostId }))) throw new NotFoundError('Host', input.hostId);
    const existing = await this.repo.findOneBy({ hostId: input.hostId, type: input.type });
    if (existing?.source === ResourceSource.FACTS) {
      const next = { reserved: 0, allocationRatio: 1, minUnit: 1, maxUnit: null, stepSize: 1, description: '', attributes: {}, ...input, source: ResourceSource.ADMIN };
      validateInventory(next, existing.used);
      // Only the description and inventory: `used` stays whatever claims made it meanwhile.
      const { attributes, ...fields } = next;
      await this.repo
        .createQueryBuilder()
        .update()
        .set({ ...fields, attributes: () => ':attributes::jsonb' })
        .where('id = :id AND source = :facts', { id: existing.id, facts: ResourceSource.FACTS, attributes: JSON.stringify(attributes) })
        .execute();
      inventoryChanged(this.dataSource, [input.hostId]);
      return this.get(actor, existing.id);
    }
    if (existing) {
      throw new ConflictError(`Host ${input.hostId} already has a ${input.type} resource; update its inventory instead`, { hostId: input.hostId, type: input.type });
    }
    const created = await this.repo.save(this.repo.create({ ...input, used: 0 }));
    inventoryChanged(this.dataSource, [created.hostId]);
    return created;
  }

  /** Site admins change an inventory; capacity may not drop below what is used. */
  async updateInventory(actor: Principal, id: string, fields: Partial<InventoryFields>): Promise<ResourceEntity> {
    policy.requireSiteAdmin(actor, 'change inventories');
    const resource = await this.get(actor, id);
    const next = { ...resource, ...fields };
    validateInventory(next, resource.used);
    // Only the inventory, and only while its capacity still holds what is used: `used` belongs to
    // the claims, which may have moved since the read above (saving the row read would write it back).
    const updated = rowsOf<{ id: string }>(await this.dataSource.query(
      `UPDATE resource SET total = $2, reserved = $3, "allocationRatio" = $4, "minUnit" = $5, "maxUnit" = $6, "stepSize" = $7, generation = generation + 1
       WHERE id = $1 AND ($2::float8 - $3::float8) * $4::float8 + 1e-6 >= used RETURNING id`,
      [id, next.total, next.reserved, next.allocationRatio, next.minUnit, next.maxUnit, next.stepSize],
    ));
    if (!updated.length) {
      const now = await this.get(actor, id);
      throw new ConflictError(`Capacity ${capacityOf(next)} would be below what is already used (${now.used})`, { capacity: capacityOf(next), used: now.used });
    }
    inventoryChanged(this.dataSource, [resource.hostId]);
    return this.get(actor, id);
  }

  async get(actor: Principal, id: string): Promise<ResourceEntity> {
    policy.requireAuthenticated(actor);
    const r = await this.repo.findOneBy({ id });
    if (!r) throw new NotFoundError('Resource', id);
    return r;
  }

  /** Resources of one host. */
  async ofHost(hostId: string): Promise<ResourceEntity[]> {
    return this.repo.find({ where: { hostId }, order: { type: 'ASC' } });
  }

  /** Discovery: by type, host, site, technology, minimum free amount and attributes. */
  async list(actor: Principal, filter: ResourceFilter, limit: number, offset: number): Promise<{ items: ResourceEntity[]; total: number }> {
    policy.requireAuthenticated(actor);
    const qb = this.filtered(filter);
    const [items, total] = await qb.orderBy('r.uid', 'ASC').take(limit).skip(offset).getManyAndCount();
    return { items, total };
  }

  private filtered(filter: ResourceFilter): SelectQueryBuilder<ResourceEntity> {
    const qb = this.repo.createQueryBuilder('r').innerJoin(HostEntity, 'h', 'h.id = r."hostId"');
    if (filter.type) qb.andWhere('r.type = :type', { type: filter.type });
    if (filter.hostId) qb.andWhere('r."hostId" = :hostId', { hostId: filter.hostId });
    if (filter.siteId) qb.andWhere('h."siteId" = :siteId', { siteId: filter.siteId });
    if (filter.technology) qb.andWhere('h.drivers @> :tech::jsonb', { tech: JSON.stringify([filter.technology]) });
    if (filter.minFree != null) qb.andWhere('(r.total - r.reserved) * r."allocationRatio" - r.used >= :minFree', { minFree: filter.minFree });
    if (filter.attributes && Object.keys(filter.attributes).length) qb.andWhere('r.attributes @> :attrs::jsonb', { attrs: JSON.stringify(filter.attributes) });
    return qb;
  }

  /** Site admins define resource classes. */
  async createClass(actor: Principal, input: { name: string; description?: string; uses?: string[]; metadata?: Record<string, unknown>; requirements: ClassRequirement[] }): Promise<ResourceClassEntity> {
    policy.requireSiteAdmin(actor, 'define resource classes');
    if (!input.requirements.length) throw new BadInputError('A resource class needs at least one requirement');
    for (const req of input.requirements) {
      validateTypeAndUnit(req.type, req.unit as ResourceUnit);
      if (!(req.amount > 0)) throw new BadInputError(`Requirement ${req.type}: amount must be positive`, { requirement: req });
    }
    if (await this.classes.existsBy({ name: input.name })) throw new ConflictError(`A resource class named "${input.name}" already exists`, { name: input.name });
    return this.classes.save(this.classes.create(input));
  }

  async listClasses(actor: Principal): Promise<ResourceClassEntity[]> {
    policy.requireAuthenticated(actor);
    return this.classes.find({ order: { name: 'ASC' } });
  }

  async getClass(actor: Principal, id: string): Promise<ResourceClassEntity> {
    policy.requireAuthenticated(actor);
    const c = await this.classes.findOneBy({ id });
    if (!c) throw new NotFoundError('ResourceClass', id);
    return c;
  }

  /** Ids of hosts whose free capacity meets every requirement of the class. */
  async hostsMatchingClass(actor: Principal, classId: string): Promise<string[]> {
    const cls = await this.getClass(actor, classId);
    let hostIds: Set<string> | undefined;
    for (const req of cls.requirements) {
      const rows = await this.filtered({ type: req.type, minFree: req.amount }).andWhere('r.unit = :unit', { unit: req.unit }).select('r."hostId"', 'hostId').getRawMany<{ hostId: string }>();
      const ids = new Set(rows.map((r) => r.hostId));
      hostIds = hostIds ? new Set([...hostIds].filter((id) => ids.has(id))) : ids;
    }
    return [...(hostIds ?? [])].sort();
  }
}

/** BAD_USER_INPUT unless the type is well-formed and the unit fits it. */
export function validateTypeAndUnit(type: string, unit: ResourceUnit): void {
  if (!TYPE_PATTERN.test(type)) throw new BadInputError(`"${type}" is not a resource type: use UPPER_CASE letters, digits and _`, { type });
  if (!UNITS.has(unit)) throw new BadInputError(`"${unit}" is not a unit`, { unit });
  const allowed = KNOWN_RESOURCE_UNITS[type];
  if (allowed && !allowed.includes(unit)) throw new BadInputError(`${type} is measured in ${allowed.join(' or ')}, not ${unit}`, { type, unit, allowed });
}

/** The largest total a resource may have: amounts up to it are counted exactly (and 1e308 × a ratio would be Infinity). */
const MAX_RESOURCE_TOTAL = Number.MAX_SAFE_INTEGER;

function validateInventory(inv: InventoryFields & { reserved?: number }, used: number): void {
  const reserved = inv.reserved ?? 0;
  const ratio = inv.allocationRatio ?? 1;
  const problems: string[] = [];
  if (!(inv.total >= 0 && inv.total <= MAX_RESOURCE_TOTAL)) problems.push(`total must be ≥ 0 and ≤ ${MAX_RESOURCE_TOTAL} (2^53 − 1, the largest amount counted exactly)`);
  if (reserved < 0 || reserved > inv.total) problems.push('reserved must be between 0 and total');
  if (!(ratio > 0) || ratio > 100) problems.push('allocationRatio must be > 0 and ≤ 100');
  if (inv.minUnit !== undefined && !(inv.minUnit > 0)) problems.push('minUnit must be > 0');
  if (inv.stepSize !== undefined && !(inv.stepSize > 0)) problems.push('stepSize must be > 0');
  if (inv.maxUnit != null && inv.minUnit !== undefined && inv.maxUnit < inv.minUnit) problems.push('maxUnit must be ≥ minUnit');
  if (problems.length) throw new BadInputError(`Invalid inventory: ${problems.join('; ')}`, { problems });
  const capacity = capacityOf({ total: inv.total, reserved, allocationRatio: ratio });
  if (capacity < used) throw new ConflictError(`Capacity ${capacity} would be below what is already used (${used})`, { capacity, used });
}
