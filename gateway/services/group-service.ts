import { DataSource, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { GroupEntity, GroupNote, LaborOffer, MemberRole } from '../persistence/entities';

/** Fields of a group a caller may set. */
export interface GroupFields {
  name: string;
  slug: string;
  description?: string;
  contact?: string;
  labor?: LaborOffer[];
  financial?: GroupNote[];
  legal?: GroupNote[];
  techHosts?: string[];
  techNeeds?: string[];
  noTechPreference?: boolean;
  externalBackups?: boolean;
}

/** Groups: the tenants. */
export class GroupService {
  private readonly repo: Repository<GroupEntity>;

  constructor(dataSource: DataSource) {
    this.repo = dataSource.getRepository(GroupEntity);
  }

  /** Site admins create groups. CONFLICT when the slug is taken. */
  async create(actor: Principal, fields: GroupFields): Promise<GroupEntity> {
    policy.requireSiteAdmin(actor, 'create groups');
    this.validate(fields);
    if (await this.repo.existsBy({ slug: fields.slug })) throw new ConflictError(`A group with slug "${fields.slug}" already exists`, { slug: fields.slug });
    return this.repo.save(this.repo.create(fields));
  }

  /** Group admins update their group. */
  async update(actor: Principal, id: string, fields: Partial<GroupFields>): Promise<GroupEntity> {
    const group = await this.get(actor, id);
    policy.requireRole(actor, id, MemberRole.ADMIN, 'update this group');
    const next = { ...group, ...fields };
    this.validate(next);
    if (fields.slug && fields.slug !== group.slug && (await this.repo.existsBy({ slug: fields.slug }))) {
      throw new ConflictError(`A group with slug "${fields.slug}" already exists`, { slug: fields.slug });
    }
    return this.repo.save(next);
  }

  /**
   * Site admins set a group's storage quota of the gateway's stores, in bytes (a whole number ≥ 0);
   * null: the installation default (`RSP_GROUP_STORAGE_BYTES`). Lowering it below what the group
   * keeps refuses its next uploads and gateway-kept replicas; nothing stored is removed.
   */
  async setStorageQuota(actor: Principal, id: string, bytes: number | null): Promise<GroupEntity> {
    policy.requireSiteAdmin(actor, 'set storage quotas');
    if (bytes !== null && !(Number.isSafeInteger(bytes) && bytes >= 0)) throw new BadInputError('bytes must be a whole number ≥ 0 (or null: the installation default)', { bytes });
    const group = await this.get(actor, id);
    await this.repo.update({ id }, { storageQuotaBytes: bytes });
    return { ...group, storageQuotaBytes: bytes };
  }

  /** One group (any authenticated caller; private fields are hidden by the schema layer). */
  async get(actor: Principal, id: string): Promise<GroupEntity> {
    policy.requireAuthenticated(actor);
    const group = await this.repo.findOneBy({ id });
    if (!group) throw new NotFoundError('Group', id);
    return group;
  }

  /** Several groups by id, in one query. */
  async byIds(ids: string[]): Promise<Map<string, GroupEntity>> {
    if (!ids.length) return new Map();
    const found = await this.repo.createQueryBuilder('g').where('g.id IN (:...ids)', { ids }).getMany();
    return new Map(found.map((g) => [g.id, g]));
  }

  /** Every group, by name. */
  async list(actor: Principal, limit: number, offset: number): Promise<{ items: GroupEntity[]; total: number }> {
    policy.requireAuthenticated(actor);
    const [items, total] = await this.repo.findAndCount({ order: { name: 'ASC', id: 'ASC' }, take: limit, skip: offset });
    return { items, total };
  }

  private validate(fields: Partial<GroupFields>): void {
    for (const l of fields.labor ?? []) {
      if (l.people < 0 || l.hoursPerWeek < 0 || l.hoursPerWeek > 168) {
        throw new BadInputError(`Labor ${l.kind}: people must be ≥ 0 and hours per week between 0 and 168`, { labor: l });
      }
    }
    if (fields.noTechPreference && fields.techNeeds?.length) {
      throw new BadInputError('A group with no technology preference cannot also list needed technologies', { techNeeds: fields.techNeeds });
    }
  }
}
