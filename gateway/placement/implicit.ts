import { timeOrderedId } from '../persistence/time-ordered-id';
import type { EntityManager } from 'typeorm';
import type { ResourceLimits } from '../../drivers/contract';
import { ConflictError, ForbiddenError, NotFoundError, RspError } from '../errors';
import { usagePolicyRefusal } from '../metrics/usage-breaches';
import { AllocationGuarantee, AllocationRequestEntity, AllocationRequestStatus, AntiAffinity, PlacementMode, ResourceUnit, type ResourceWant } from '../persistence/entities';
import { humanAmount } from './amount-text';
import { applyDeltas, checkLimits, insertPlacements, type PlannedAllocation, type ResourceDelta } from './claims';
import { freeFor, type HostView } from './model';
import { loadHostViews } from './snapshot';

/** Which host resource, in which unit, each environment limit holds. */
const LIMIT_RESOURCES: Array<{ limit: keyof ResourceLimits; type: string; unit: ResourceUnit }> = [
  { limit: 'cpuQuota', type: 'CPU', unit: ResourceUnit.CORES },
  { limit: 'memoryBytes', type: 'RAM', unit: ResourceUnit.BYTES },
  { limit: 'diskBytes', type: 'DISK', unit: ResourceUnit.BYTES },
  { limit: 'networkBitsPerSecond', type: 'NET_BANDWIDTH', unit: ResourceUnit.BITS_PER_SECOND },
];

/** The resources an environment's limits hold (CPU cores, RAM, disk, bandwidth); a CPU weight holds none. */
export function limitWants(limits: ResourceLimits): ResourceWant[] {
  const wants: ResourceWant[] = [];
  for (const { limit, type, unit } of LIMIT_RESOURCES) {
    const amount = limits[limit];
    if (typeof amount === 'number' && amount > 0) wants.push({ type, amount, unit });
  }
  return wants;
}

/** What an implicit claim holds and for what. */
export interface ImplicitClaim {
  groupId: string;
  hostId: string;
  /** What it holds; resources the host does not record (or records in another unit) are not tracked. */
  wants: ResourceWant[];
  technology: string;
  /** Token name recorded as the requester. */
  requestedBy: string;
  /** The environment it is made for, or the replica. */
  environmentId?: string;
  /** The work exists already and restarts here (failover): usage policies do not refuse it. */
  keepsWork?: boolean;
  replicaId?: string;
}

/** Names of groups and hosts in refusals. */
async function names(m: Pick<EntityManager, 'query'>, groupId: string, host: HostView): Promise<{ group: string; owner: string }> {
  const rows: Array<{ id: string; slug: string }> = await m.query(`SELECT id, slug FROM "group" WHERE id = ANY($1)`, [[groupId, host.ownerGroupId]]);
  const slug = (id: string) => rows.find((r) => r.id === id)?.slug ?? id;
  return { group: slug(groupId), owner: slug(host.ownerGroupId) };
}

/**
 * Why the host cannot take `wants` for the group now, or null: FORBIDDEN when the group has no
 * share on it (the owner group needs none) or is over a REFUSE usage policy of its site (naming
 * the policy and the site, `details.reason` USAGE_POLICY_EXCEEDED; not with `keepsWork`), CONFLICT naming the resource that is short — the
 * group's share (quota) or the host's free capacity under its allocation ratio.
 */
export async function refusal(m: Pick<EntityManager, 'query'>, host: HostView, groupId: string, wants: ResourceWant[], options: { keepsWork?: boolean } = {}): Promise<RspError | null> {
  const owner = host.ownerGroupId === groupId;
  const quotas = owner ? undefined : host.quotas.get(groupId);
  if (!owner && !quotas) {
    const n = await names(m, groupId, host);
    return new ForbiddenError(`Group ${n.group} has no share on host ${host.hostname}: ask its owner group ${n.owner} for one`, { hostId: host.id, groupId, missing: 'share' });
  }
  const breach = options.keepsWork ? undefined : host.policyBreaches.get(groupId);
  if (breach) return usagePolicyRefusal(breach, (await names(m, groupId, host)).group);
  for (const want of wants) {
    const r = host.resources.get(want.type);
    if (!r || r.unit !== want.unit) continue;
    if (quotas && quotas[want.type] !== undefined) {
      const used = r.usedByGroup.get(groupId) ?? 0;
      const quota = quotas[want.type]!;
      if (used + want.amount > quota + 1e-6) {
        const n = await names(m, groupId, host);
        return new ConflictError(`Host ${host.hostname}: ${want.type} is short in group ${n.group}'s share: it allows ${humanAmount(quota, want.unit)}, ${humanAmount(used, want.unit)} already held, ${humanAmount(want.amount, want.unit)} wanted`, { hostId: host.id, groupId, type: want.type, quota, used, wanted: want.amount, short: 'quota' });
      }
    }
    const free = freeFor(r, false);
    if (want.amount > free + 1e-6) {
      return new ConflictError(`Host ${host.hostname}: ${want.type} is short: ${humanAmount(want.amount, want.unit)} wanted, ${humanAmount(Math.max(0, free), want.unit)} free (allocation ratio ${r.allocationRatio})`, { hostId: host.id, type: want.type, free: Math.max(0, free), wanted: want.amount, short: 'capacity' });
    }
  }
  return null;
}

/**
 * Inside the caller's transaction, claims `wants` on one host for the group through placement's
 * claim (the same deltas, allocation rows and share check as any placed request): reads the host's
 * resources locked (so they cannot move before the claim, and their claim sums read next are
 * exact; none when it wants nothing), refuses with
 * `refusal`'s error, and records a placed DIRECT request and an ACTIVE best-effort allocation
 * without lease, tied to the environment or replica. Returns the allocation's id.
 */
export async function claimImplicit(m: EntityManager, claim: ImplicitClaim, now: Date): Promise<string> {
  // Judged on the group's share and usage policies and on resources, never on properties (nor
  // other groups' shares and policies); a claim of nothing (no limits) holds no resource, so they
  // are neither read nor locked.
  const host = (await loadHostViews(m, [claim.hostId], { lockResources: true, properties: false, resources: claim.wants.length > 0, group: claim.groupId })).get(claim.hostId);
  if (!host) throw new NotFoundError('Host', claim.hostId);
  const held = claim.wants.filter((w) => host.resources.get(w.type)?.unit === w.unit);
  const refused = await refusal(m, host, claim.groupId, held, { keepsWork: claim.keepsWork });
  if (refused) throw refused;
  const request = m.getRepository(AllocationRequestEntity).create({
    id: timeOrderedId(),
    groupId: claim.groupId,
    requestedBy: claim.requestedBy,
    mode: PlacementMode.DIRECT,
    guarantee: AllocationGuarantee.BEST_EFFORT,
    spec: { resources: held, technologies: claim.technology ? [claim.technology] : [], requiredProperties: [], antiAffinity: AntiAffinity.NONE, replicas: 1, hostIds: [host.id] },
    leaseSeconds: null,
    status: AllocationRequestStatus.PLACED,
    reason: claim.environmentId ? 'held by an environment' : 'held by a replica',
    decidedBy: null,
    decidedAt: now,
  });
  const deltas: ResourceDelta[] = [];
  const allocation: PlannedAllocation = { id: timeOrderedId(), requestId: request.id, groupId: claim.groupId, hostId: host.id, technology: claim.technology, guarantee: AllocationGuarantee.BEST_EFFORT, score: 0, expiresAt: null, claims: [], environmentId: claim.environmentId ?? null, replicaId: claim.replicaId ?? null };
  for (const want of held) {
    const resource = host.resources.get(want.type)!;
    deltas.push({ resource, hostId: host.id, amount: want.amount, expectedGeneration: resource.generation });
    allocation.claims.push({ resourceId: resource.id, type: want.type, amount: want.amount });
  }
  await applyDeltas(m, deltas);
  await insertPlacements(m, [request], [allocation]);
  await checkLimits(m, held.map((w) => ({ hostId: host.id, groupId: claim.groupId, type: w.type, used: (host.resources.get(w.type)!.usedByGroup.get(claim.groupId) ?? 0) + w.amount })));
  return allocation.id;
}
