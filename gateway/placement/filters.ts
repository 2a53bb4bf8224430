import { breachText } from '../metrics/usage-breaches';
import { AntiAffinity, HostState } from '../persistence/entities';
import { checkRequirements } from '../services/layer-service';
import { FilterName, freeFor, HostView, PlacementAsk } from './model';

/** What a filter sees besides the host: the hosts and sites already chosen for earlier replicas. */
export interface FilterContext {
  chosenHostIds: Set<string>;
  chosenSiteIds: Set<string>;
}

/**
 * A feasibility filter: null when the host passes, else the reason it does not. `fits` answers
 * the same question without building the reason, for the scheduler's hot path.
 */
export interface PlacementFilter {
  name: FilterName;
  reject(host: HostView, ask: PlacementAsk, ctx: FilterContext): string | null;
  fits?(host: HostView, ask: PlacementAsk, ctx: FilterContext): boolean;
}

const EPSILON = 1e-9;
// Read once: each access through the entities index is a getter call, felt in the hot path.
const UP = HostState.UP;
const SPREAD_HOST = AntiAffinity.HOST;
const SPREAD_SITE = AntiAffinity.SITE;

/** Only UP hosts take new work. */
export const hostStateFilter: PlacementFilter = {
  name: 'HOST_STATE',
  reject: (host) => (host.state === HostState.UP ? null : `host is ${host.state}, not UP`),
};

/** The host has one of the requested technologies (any, when none is requested). */
export const technologyFilter: PlacementFilter = {
  name: 'TECHNOLOGY',
  reject: (host, ask) => {
    const wanted = ask.spec.technologies;
    if (!wanted.length || wanted.some((t) => host.drivers.includes(t))) return null;
    return `host offers ${host.drivers.join(', ') || 'no technology'}, the request wants ${wanted.join(' or ')}`;
  },
  fits: (host, ask) => {
    const wanted = ask.spec.technologies;
    if (!wanted.length) return true;
    for (const t of wanted) if (host.drivers.includes(t)) return true;
    return false;
  },
};

/** The host's effective properties meet every required property. */
export const propertiesFilter: PlacementFilter = {
  name: 'PROPERTIES',
  reject: (host, ask) => {
    if (!ask.spec.requiredProperties.length) return null;
    const check = checkRequirements(ask.spec.requiredProperties, host.properties);
    return check.satisfied ? null : check.unmet.map((u) => u.reason).join('; ');
  },
};

/** Every wanted resource exists in the right unit, fits min/max/step, and fits the free capacity under allocationRatio. */
export const capacityFilter: PlacementFilter = {
  name: 'CAPACITY',
  reject: (host, ask) => {
    for (const want of ask.spec.resources) {
      const r = host.resources.get(want.type);
      if (!r) return `host has no ${want.type} resource`;
      if (r.unit !== want.unit) return `${want.type} is measured in ${r.unit} here, not ${want.unit}`;
      if (want.amount < r.minUnit - EPSILON) return `${want.type} ${want.amount} is below the minimum unit ${r.minUnit}`;
      if (r.maxUnit !== null && want.amount > r.maxUnit + EPSILON) return `${want.type} ${want.amount} is above the maximum unit ${r.maxUnit}`;
      const steps = want.amount / r.stepSize;
      if (Math.abs(steps - Math.round(steps)) > 1e-6) return `${want.type} ${want.amount} is not a multiple of the step ${r.stepSize}`;
      const free = freeFor(r, ask.guaranteed);
      if (want.amount > free + EPSILON) return `${want.type}: ${want.amount} wanted, ${Math.max(0, free)} free${ask.guaranteed ? ' for guaranteed use (no overbooking)' : ` (allocation ratio ${r.allocationRatio})`}`;
    }
    return null;
  },
  fits: (host, ask) => {
    for (const want of ask.spec.resources) {
      const r = host.resources.get(want.type);
      if (!r || r.unit !== want.unit || want.amount < r.minUnit - EPSILON || (r.maxUnit !== null && want.amount > r.maxUnit + EPSILON)) return false;
      if (want.amount > freeFor(r, ask.guaranteed) + EPSILON) return false;
      if (r.stepSize !== 1 || !Number.isInteger(want.amount)) {
        const steps = want.amount / r.stepSize;
        if (Math.abs(steps - Math.round(steps)) > 1e-6) return false;
      }
    }
    return true;
  },
};

/** The group's share on the host covers the request; the host's owner group needs no share. */
export const quotaFilter: PlacementFilter = {
  name: 'QUOTA',
  reject: (host, ask) => {
    if (host.ownerGroupId === ask.groupId) return null;
    const quotas = host.quotas.get(ask.groupId);
    if (!quotas) return 'the group has no share on this host';
    for (const want of ask.spec.resources) {
      const quota = quotas[want.type];
      if (quota === undefined) continue;
      const used = host.resources.get(want.type)?.usedByGroup.get(ask.groupId) ?? 0;
      if (used + want.amount > quota + EPSILON) return `${want.type}: the group's share allows ${quota}, ${used} already used, ${want.amount} wanted`;
    }
    return null;
  },
  fits: (host, ask) => {
    if (host.ownerGroupId === ask.groupId) return true;
    const quotas = host.quotas.get(ask.groupId);
    if (!quotas) return false;
    for (const want of ask.spec.resources) {
      const quota = quotas[want.type];
      if (quota !== undefined && (host.resources.get(want.type)?.usedByGroup.get(ask.groupId) ?? 0) + want.amount > quota + EPSILON) return false;
    }
    return true;
  },
};

/** The group is over none of the REFUSE usage policies of the host's site this month. */
export const usagePolicyFilter: PlacementFilter = {
  name: 'USAGE_POLICY',
  reject: (host, ask) => {
    const breach = host.policyBreaches.get(ask.groupId);
    return breach ? `${breachText(breach)}: new work of the group in this site is refused` : null;
  },
  fits: (host, ask) => host.policyBreaches.size === 0 || !host.policyBreaches.has(ask.groupId),
};

/** No two replicas of one request on one host (HOST) or in one site (SITE). */
export const antiAffinityFilter: PlacementFilter = {
  name: 'ANTI_AFFINITY',
  reject: (host, ask, ctx) => {
    if (ask.spec.antiAffinity === AntiAffinity.HOST && ctx.chosenHostIds.has(host.id)) return 'another replica of this request is on this host';
    if (ask.spec.antiAffinity === AntiAffinity.SITE && ctx.chosenSiteIds.has(host.siteId)) return 'another replica of this request is in this site';
    return null;
  },
};

/** True when the host passes the filter (its fast path when it has one). */
export function passes(filter: PlacementFilter, host: HostView, ask: PlacementAsk, ctx: FilterContext): boolean {
  return filter.fits ? filter.fits(host, ask, ctx) : filter.reject(host, ask, ctx) === null;
}

/** Every filter, in the order they run: cheap and decisive first. */
export const FILTERS: readonly PlacementFilter[] = [hostStateFilter, technologyFilter, antiAffinityFilter, capacityFilter, quotaFilter, usagePolicyFilter, propertiesFilter];

/**
 * Every filter at once, for the scheduler's hot path: true exactly when the host passes all of
 * FILTERS (a unit test holds the two together). One pass over the wants checks capacity and quota
 * without a call per filter.
 */
export function passesAll(host: HostView, ask: PlacementAsk, ctx: FilterContext): boolean {
  if (host.state !== UP) return false;
  const wanted = ask.spec.technologies;
  if (wanted.length) {
    let offered = false;
    for (const t of wanted) {
      if (host.drivers.includes(t)) {
        offered = true;
        break;
      }
    }
    if (!offered) return false;
  }
  const spread = ask.spec.antiAffinity;
  if (spread === SPREAD_HOST ? ctx.chosenHostIds.has(host.id) : spread === SPREAD_SITE && ctx.chosenSiteIds.has(host.siteId)) return false;
  const owner = host.ownerGroupId === ask.groupId;
  const quotas = owner ? undefined : host.quotas.get(ask.groupId);
  if (!owner && !quotas) return false;
  for (const want of ask.spec.resources) {
    const r = host.resources.get(want.type);
    if (!r || r.unit !== want.unit || want.amount < r.minUnit - EPSILON || (r.maxUnit !== null && want.amount > r.maxUnit + EPSILON)) return false;
    if (want.amount > freeFor(r, ask.guaranteed) + EPSILON) return false;
    if (r.stepSize !== 1 || !Number.isInteger(want.amount)) {
      const steps = want.amount / r.stepSize;
      if (Math.abs(steps - Math.round(steps)) > 1e-6) return false;
    }
    if (quotas) {
      const quota = quotas[want.type];
      if (quota !== undefined && (r.usedByGroup.get(ask.groupId) ?? 0) + want.amount > quota + EPSILON) return false;
    }
  }
  if (host.policyBreaches.size !== 0 && host.policyBreaches.has(ask.groupId)) return false;
  return !ask.spec.requiredProperties.length || checkRequirements(ask.spec.requiredProperties, host.properties).satisfied;
}
