import { PlacementPolicy } from '../persistence/entities';
import type { HostView, PlacementAsk } from './model';

// Read once: each access through the entities index is a getter call.
const SPREAD = PlacementPolicy.SPREAD;

/** How much a technology preference outweighs the fit score (which is in [0, 1]). */
export const TECHNOLOGY_WEIGHT = 10;

/**
 * Utilisation of the host's wanted resources after the claim, averaged over the wanted types,
 * each as used / overbooked capacity. 0 = empty, 1 = full.
 */
export function utilisationAfter(host: HostView, ask: PlacementAsk): number {
  const wants = ask.spec.resources;
  if (!wants.length) return 0;
  let sum = 0;
  for (const want of wants) {
    const r = host.resources.get(want.type);
    if (!r) continue;
    const capacity = (r.total - r.reserved) * r.allocationRatio;
    sum += capacity > 0 ? Math.min(1, (r.used + want.amount) / capacity) : 1;
  }
  return sum / wants.length;
}

/** Fit score in [0, 1] under the site's policy: BINPACK prefers full hosts, SPREAD empty ones. */
export function fitScore(policy: PlacementPolicy, utilisation: number): number {
  return policy === SPREAD ? 1 - utilisation : utilisation;
}

/** The technology the host would use (the first preferred one it offers) and its preference in [0, 1]. */
export function technologyPreference(host: HostView, ask: PlacementAsk): { technology: string; preference: number } {
  const wanted = ask.spec.technologies;
  if (!wanted.length) return { technology: host.drivers[0] ?? '', preference: 1 };
  const index = wanted.findIndex((t) => host.drivers.includes(t));
  if (index < 0) return { technology: '', preference: 0 };
  return { technology: wanted[index]!, preference: 1 - index / wanted.length };
}

/**
 * The score of a feasible host: technology preference first (weighted by TECHNOLOGY_WEIGHT), then
 * the fit under its site's policy. Higher is better.
 */
export function scoreHost(host: HostView, ask: PlacementAsk): { score: number; technology: string } {
  const { technology, preference } = technologyPreference(host, ask);
  return { score: TECHNOLOGY_WEIGHT * preference + fitScore(host.sitePolicy, utilisationAfter(host, ask)), technology };
}
