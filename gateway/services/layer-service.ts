import { DataSource, In, Not, Repository } from 'typeorm';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ForbiddenError, NotFoundError } from '../errors';
import { LAYER_KINDS, LayerEntity, LayerProperty, LayerRequirement, MemberRole } from '../persistence/entities';
import { inventoryChanged } from '../placement/inventory-changes';
import { requireGroupRoom } from '../limits/group-records';

/** A property as seen from a layer: its value and the layer it comes from. */
export interface EffectiveProperty {
  key: string;
  value: string | number | boolean;
  locked: boolean;
  fromLayerId: string;
}

/** Whether a layer's requirements hold on the effective properties beneath it, and why not. */
export interface RequirementCheck {
  satisfied: boolean;
  unmet: Array<{ requirement: LayerRequirement; actual: string | number | boolean | null; reason: string }>;
}

const KIND_PATTERN = /^[A-Z][A-Z0-9_]{0,29}$/;
const MAX_DEPTH = 32;

/**
 * Layers and property inheritance (seed 000). The rule: walking from the bottom (machine) up, each
 * layer's own value replaces the inherited one — nearest wins — unless a lower layer locked it, in
 * which case the lowest locked value stands. So a collapsed stack and an expanded one with the same
 * properties have the same effective properties (virtual layer equivalence).
 */
export class LayerService {
  private readonly repo: Repository<LayerEntity>;
  private readonly owners: HostOwners;

  constructor(private readonly dataSource: DataSource) {
    this.repo = dataSource.getRepository(LayerEntity);
    this.owners = new HostOwners(dataSource);
  }

  async create(actor: Principal, input: { groupId: string; kind: string; name: string; parentId?: string | null; properties?: LayerProperty[]; requirements?: LayerRequirement[] }): Promise<LayerEntity> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'create layers for this group');
    if (!KIND_PATTERN.test(input.kind)) throw new BadInputError(`"${input.kind}" is not a layer kind: use ${LAYER_KINDS.join(', ')} or another UPPER_CASE word`, { kind: input.kind });
    if (input.kind === 'MACHINE') throw new BadInputError('MACHINE layers are made by registering hosts');
    validateProperties(input.properties ?? []);
    validateRequirements(input.requirements ?? []);
    if (input.parentId) await this.requireParent(actor, input.groupId, input.parentId);
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(LayerEntity);
      await requireGroupRoom(repo, { groupId: input.groupId, kind: Not(In(['ZONE', 'MACHINE'])) }, input.groupId, 'layers');
      return repo.save(repo.create({ ...input, parentId: input.parentId ?? null, properties: input.properties ?? [], requirements: input.requirements ?? [] }));
    });
  }

  /**
   * Moves a layer onto another parent, or changes its properties (members of its group). A host's
   * MACHINE layer is the host's own description, which every group's placement and requirements
   * read: only those governing the host (ADMINs of the group owning it or its site, site admins)
   * change it. Refuses cycles, once the new parent is one the caller may use: another group's
   * layer answers as a missing one, whatever sits on what.
   */
  async update(actor: Principal, id: string, input: { parentId?: string | null; properties?: LayerProperty[]; requirements?: LayerRequirement[] }): Promise<LayerEntity> {
    const layer = await this.get(actor, id);
    if (layer.kind === 'MACHINE') await this.requireGovernsMachine(actor, layer);
    else policy.requireRole(actor, layer.groupId, MemberRole.MEMBER, 'change this layer');
    if (input.properties) validateProperties(input.properties);
    if (input.requirements) validateRequirements(input.requirements);
    if (input.parentId !== undefined && input.parentId !== null) {
      await this.requireParent(actor, layer.groupId, input.parentId);
      const chain = await this.chain(input.parentId);
      if (chain.some((l) => l.id === id)) throw new BadInputError(`Layer ${id} cannot sit on ${input.parentId}: that would make a cycle`, { id, parentId: input.parentId });
    }
    const saved = await this.repo.save({ ...layer, ...input });
    if (layer.kind === 'MACHINE') {
      // A host's properties are its machine layer's: its placement picture changes.
      const hosts: Array<{ id: string }> = await this.dataSource.query(`SELECT id FROM host WHERE "layerId" = $1`, [id]);
      inventoryChanged(this.dataSource, hosts.map((h) => h.id));
    }
    return saved;
  }

  /** Passes when the actor governs the host whose MACHINE layer this is (its owner group's ADMINs when no host has it); FORBIDDEN otherwise. */
  private async requireGovernsMachine(actor: Principal, layer: LayerEntity): Promise<void> {
    const action = "change a host's machine layer";
    const [host]: Array<{ id: string }> = await this.repo.manager.query(`SELECT id FROM host WHERE "layerId" = $1`, [layer.id]);
    if (host) await this.owners.requireGovernsHost(actor, host.id, action);
    else policy.requireOwnerAdmin(actor, [layer.groupId], action);
  }

  /**
   * A layer a group's new layer may sit on: one of the group's own, or the MACHINE layer of a
   * host the group owns or has a share on (a layer on a host is work put there). FORBIDDEN for
   * another group's layer (even one the caller may see) or a host without the group's share.
   */
  private async requireParent(actor: Principal, groupId: string, parentId: string): Promise<LayerEntity> {
    const parent = await this.get(actor, parentId);
    if (parent.kind !== 'MACHINE') {
      if (parent.groupId !== groupId) throw new ForbiddenError(`Layer ${parentId} belongs to another group: a group's layers sit on its own layers or on a host's machine layer`, { parentId, groupId });
      return parent;
    }
    const [host]: Array<{ hostname: string; ownerGroupId: string; shared: boolean }> = await this.repo.manager.query(
      `SELECT h.hostname, h."ownerGroupId", EXISTS (SELECT 1 FROM share s WHERE s."hostId" = h.id AND s."groupId" = $2) AS shared FROM host h WHERE h."layerId" = $1`,
      [parentId, groupId],
    );
    if (host ? host.ownerGroupId !== groupId && !host.shared : parent.groupId !== groupId) {
      throw new ForbiddenError(`The group has no share on host ${host?.hostname ?? parent.name}: its layers may not sit on that host's machine layer`, { parentId, groupId, missing: 'share' });
    }
    return parent;
  }

  /** A layer the caller may see: its group's, or any MACHINE layer (hosts are public). */
  async get(actor: Principal, id: string): Promise<LayerEntity> {
    policy.requireAuthenticated(actor);
    const layer = await this.repo.findOneBy({ id });
    if (!layer || (layer.kind !== 'MACHINE' && !policy.isMember(actor, layer.groupId))) throw new NotFoundError('Layer', id);
    return layer;
  }

  async list(actor: Principal, groupId: string): Promise<LayerEntity[]> {
    policy.requireAuthenticated(actor);
    if (!policy.isMember(actor, groupId)) throw new ForbiddenError("You may not list another group's layers", { groupId });
    return this.repo.find({ where: { groupId }, order: { createdAt: 'ASC' } });
  }

  async children(actor: Principal, id: string): Promise<LayerEntity[]> {
    const rows = await this.repo.find({ where: { parentId: id }, order: { createdAt: 'ASC' } });
    return rows.filter((l) => l.kind === 'MACHINE' || policy.isMember(actor, l.groupId));
  }

  /** The layer and everything beneath it, top first. */
  async chain(id: string): Promise<LayerEntity[]> {
    const out: LayerEntity[] = [];
    let next: string | null = id;
    while (next) {
      if (out.length > MAX_DEPTH) throw new BadInputError(`Layer stack deeper than ${MAX_DEPTH}`, { id });
      const layer: LayerEntity | null = await this.repo.findOneBy({ id: next });
      if (!layer) throw new NotFoundError('Layer', next);
      if (out.some((l) => l.id === layer.id)) throw new BadInputError('Layer stack has a cycle', { id });
      out.push(layer);
      next = layer.parentId;
    }
    return out;
  }

  async effectiveProperties(id: string): Promise<EffectiveProperty[]> {
    return effectiveProperties(await this.chain(id));
  }

  /** Checks the layer's requirements against what it inherits from below. */
  async checkRequirements(id: string, requirements?: LayerRequirement[]): Promise<RequirementCheck> {
    const chain = await this.chain(id);
    const below = requirements ? chain : chain.slice(1);
    return checkRequirements(requirements ?? chain[0]!.requirements, effectiveProperties(below));
  }

  /** Several layers by id. */
  async byIds(ids: string[]): Promise<LayerEntity[]> {
    return ids.length ? this.repo.findBy({ id: In(ids) }) : [];
  }
}

/** Effective properties of a stack given top first: nearest wins, unless a lower layer locked the key. */
export function effectiveProperties(stackTopFirst: LayerEntity[]): EffectiveProperty[] {
  const result = new Map<string, EffectiveProperty>();
  for (const layer of [...stackTopFirst].reverse()) {
    for (const p of layer.properties) {
      const current = result.get(p.key);
      if (current?.locked) continue;
      result.set(p.key, { key: p.key, value: p.value, locked: p.locked === true, fromLayerId: layer.id });
    }
  }
  return [...result.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Evaluates requirements on effective properties. */
export function checkRequirements(requirements: LayerRequirement[], props: EffectiveProperty[]): RequirementCheck {
  const byKey = new Map(props.map((p) => [p.key, p.value]));
  const unmet: RequirementCheck['unmet'] = [];
  for (const req of requirements) {
    const actual = byKey.has(req.key) ? byKey.get(req.key)! : null;
    const reason = unmetReason(req, actual);
    if (reason) unmet.push({ requirement: req, actual, reason });
  }
  return { satisfied: unmet.length === 0, unmet };
}

function unmetReason(req: LayerRequirement, actual: string | number | boolean | null): string | null {
  if (actual === null) return req.op === 'EXISTS' || req.op !== 'NEQ' ? `${req.key} is not set below this layer` : null;
  const [first] = req.values;
  switch (req.op) {
    case 'EXISTS':
      return null;
    case 'EQ':
      return actual === first ? null : `${req.key} is ${String(actual)}, needs ${String(first)}`;
    case 'NEQ':
      return actual !== first ? null : `${req.key} must not be ${String(first)}`;
    case 'IN':
      return req.values.includes(actual) ? null : `${req.key} is ${String(actual)}, needs one of ${req.values.map(String).join(', ')}`;
    case 'GTE':
      return typeof actual === 'number' && typeof first === 'number' && actual >= first ? null : `${req.key} is ${String(actual)}, needs ≥ ${String(first)}`;
    case 'LTE':
      return typeof actual === 'number' && typeof first === 'number' && actual <= first ? null : `${req.key} is ${String(actual)}, needs ≤ ${String(first)}`;
  }
}

/**
 * Most properties and requirements of one layer, values of one requirement, and characters of a
 * string value: a layer is read by every placement on its hosts and environments (a host's MACHINE
 * layer by every group's), so what one caller writes into it stays small.
 */
export const LAYER_CONTENT_LIMITS = { properties: 100, requirements: 100, values: 100, valueChars: 1_000 } as const;

/** Refuses a property value or requirement value longer than `LAYER_CONTENT_LIMITS.valueChars`. */
function checkValue(key: string, value: unknown): void {
  if (typeof value === 'string' && value.length > LAYER_CONTENT_LIMITS.valueChars) throw new BadInputError(`${key}: a value is at most ${LAYER_CONTENT_LIMITS.valueChars} characters`, { key });
}

function validateProperties(props: LayerProperty[]): void {
  if (props.length > LAYER_CONTENT_LIMITS.properties) throw new BadInputError(`A layer has at most ${LAYER_CONTENT_LIMITS.properties} properties`, { count: props.length });
  const seen = new Set<string>();
  for (const p of props) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(p.key)) throw new BadInputError(`"${p.key.slice(0, 64)}" is not a property key`, { key: p.key.slice(0, 64) });
    checkValue(p.key, p.value);
    if (seen.has(p.key)) throw new BadInputError(`Property ${p.key} is given twice`, { key: p.key });
    seen.add(p.key);
  }
}

function validateRequirements(reqs: LayerRequirement[]): void {
  if (reqs.length > LAYER_CONTENT_LIMITS.requirements) throw new BadInputError(`A layer has at most ${LAYER_CONTENT_LIMITS.requirements} requirements`, { count: reqs.length });
  for (const r of reqs) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(r.key)) throw new BadInputError(`"${r.key.slice(0, 64)}" is not a property key`, { key: r.key.slice(0, 64) });
    if (r.values.length > LAYER_CONTENT_LIMITS.values) throw new BadInputError(`Requirement on ${r.key}: at most ${LAYER_CONTENT_LIMITS.values} values`, { key: r.key });
    for (const v of r.values) checkValue(r.key, v);
    const needsValues = r.op !== 'EXISTS';
    if (needsValues && r.values.length === 0) throw new BadInputError(`Requirement on ${r.key} (${r.op}) needs a value`, { requirement: r });
    if ((r.op === 'GTE' || r.op === 'LTE') && typeof r.values[0] !== 'number') throw new BadInputError(`Requirement on ${r.key} (${r.op}) needs a number`, { requirement: r });
  }
}
