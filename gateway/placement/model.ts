import { AllocationGuarantee, type AllocationSpec, type HostState, type PlacementPolicy } from '../persistence/entities';
import type { UsageBreach } from '../metrics/usage-breaches';
import type { EffectiveProperty } from '../services/layer-service';

/** One resource of a host as the scheduler sees it. */
export interface ResourceView {
  id: string;
  type: string;
  unit: string;
  total: number;
  reserved: number;
  allocationRatio: number;
  minUnit: number;
  maxUnit: number | null;
  stepSize: number;
  used: number;
  /** Sum of active GUARANTEED claims: these never overbook. */
  guaranteedUsed: number;
  /** Active claims per group. */
  usedByGroup: Map<string, number>;
  generation: number;
}

/** One host as the scheduler sees it: state, technologies, site policy, inventory, effective properties, shares. */
export interface HostView {
  id: string;
  hostname: string;
  siteId: string;
  sitePolicy: PlacementPolicy;
  state: HostState;
  drivers: string[];
  ownerGroupId: string;
  resources: Map<string, ResourceView>;
  properties: EffectiveProperty[];
  /** Share quotas per group on this host: type → amount. */
  quotas: Map<string, Record<string, number>>;
  /** The REFUSE usage policies of the host's site each group is over this month (one per group): it may place no new work here. */
  policyBreaches: Map<string, UsageBreach>;
}

/** What one decision is about: the spec, the group charged and the guarantee. */
export interface PlacementAsk {
  spec: AllocationSpec;
  groupId: string;
  guaranteed: boolean;
}

/** Names of the feasibility filters, in the order they run. */
export type FilterName = 'HOST_STATE' | 'TECHNOLOGY' | 'PROPERTIES' | 'CAPACITY' | 'QUOTA' | 'USAGE_POLICY' | 'ANTI_AFFINITY';

/** A host the scheduler may use, with its score and the technology it would use. */
export interface Candidate {
  host: HostView;
  score: number;
  technology: string;
}

/** A host a filter rejected, and why. */
export interface Rejection {
  host: HostView;
  filter: FilterName;
  reason: string;
}

/** The scheduler's view of a request, its strings shared with the picture's (see `intern`). */
export function placementAsk(spec: AllocationSpec, groupId: string, guarantee: AllocationGuarantee): PlacementAsk {
  const resources = spec.resources.map((w) => ({ ...w, type: intern(w.type), unit: intern(w.unit) }));
  return { spec: { ...spec, resources, technologies: spec.technologies.map(intern) }, groupId: intern(groupId), guaranteed: guarantee === AllocationGuarantee.GUARANTEED };
}

/** The free capacity of a resource for a claim: guaranteed claims see no overbooking. */
export function freeFor(r: ResourceView, guaranteed: boolean): number {
  const base = r.total - r.reserved;
  const overbooked = base * r.allocationRatio - r.used;
  return guaranteed ? Math.min(overbooked, base - r.guaranteedUsed) : overbooked;
}

const internedStrings = new Map<string, string>();

/**
 * One shared instance of a string the scheduler compares on every host it scans (resource types
 * and units, group ids, technologies), made the engine's own internalized copy: the picture and
 * the requests then hold the same string, so map lookups and property reads on it compare pointers
 * instead of reading characters from memory (a quarter of the scan's time on a large picture). The
 * table grows with the distinct types, groups and technologies only.
 */
export function intern(value: string): string {
  let shared = internedStrings.get(value);
  if (shared === undefined) {
    // A property key is always internalized: read it back from an object keyed by it.
    shared = Object.keys({ [value]: 0 })[0]!;
    internedStrings.set(value, shared);
  }
  return shared;
}
