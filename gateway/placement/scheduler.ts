import { FILTERS, FilterContext, PlacementFilter, passesAll } from './filters';
import type { Candidate, HostView, PlacementAsk, Rejection } from './model';
import { scoreHost } from './scoring';

/** Hosts whose rejection is explained when a request cannot be placed (the dry run explains all). */
export const EXPLAINED_HOSTS = 100;

/** Feasible hosts scored per decision before the best of them is taken (0 = every host). */
export const DEFAULT_CANDIDATE_LIMIT = 16;

/**
 * Hosts a limited scan visits past the first feasible one before it takes the best found so far:
 * on a cluster mostly full for the asking group, `limit` feasible hosts lie thousands apart and a
 * decision scanned them all.
 */
export const SCAN_BUDGET = 256;

/** The scheduler's answer for one replica: feasible hosts best first, and the rejected ones with the filter that said no. */
export interface Evaluation {
  candidates: Candidate[];
  rejections: Rejection[];
}

/** A replica placed on a host by `placeReplicas`. */
export interface PlacedReplica {
  host: HostView;
  score: number;
  technology: string;
}

/** Runs every filter over every host, scores the feasible ones and ranks them (ties by hostname). */
export function evaluateHosts(hosts: Iterable<HostView>, ask: PlacementAsk, ctx: FilterContext = { chosenHostIds: new Set(), chosenSiteIds: new Set() }, filters: readonly PlacementFilter[] = FILTERS): Evaluation {
  const candidates: Candidate[] = [];
  const rejections: Rejection[] = [];
  for (const host of hosts) {
    let rejected = false;
    for (const filter of filters) {
      const reason = filter.reject(host, ask, ctx);
      if (reason !== null) {
        rejections.push({ host, filter: filter.name, reason });
        rejected = true;
        break;
      }
    }
    if (!rejected) candidates.push({ host, ...scoreHost(host, ask) });
  }
  candidates.sort((a, b) => b.score - a.score || a.host.hostname.localeCompare(b.host.hostname) || a.host.id.localeCompare(b.host.id));
  return { candidates, rejections };
}

/**
 * The best feasible host without building the full ranking: the fast path of `placeReplicas`.
 * With `limit` > 0 the scan starts at the cursor and stops after `limit` feasible hosts (the way
 * Nomad limits its candidates), so a decision costs O(limit) on a large, mostly free cluster;
 * below `limit` feasible hosts, on a list of at most SCAN_BUDGET hosts, the answer is exact. Past
 * SCAN_BUDGET hosts after the first feasible one, the best found so far is taken. The cursor moves
 * on to the first feasible host found, so the next decision of the round does not scan again the
 * hosts this one found full.
 */
function bestHost(hosts: HostView[], ask: PlacementAsk, ctx: FilterContext, limit: number, cursor: ScanCursor): Candidate | null {
  let best: Candidate | null = null;
  let feasible = 0;
  const n = hosts.length;
  const limited = limit > 0 && n > limit;
  const from = limited ? cursor.at % n : 0;
  let firstFeasible = -1;
  for (let k = 0; k < n; k++) {
    if (limited && firstFeasible >= 0 && k - firstFeasible > SCAN_BUDGET) break;
    const at = (from + k) % n;
    const host = hosts[at]!;
    if (!passesAll(host, ask, ctx)) continue;
    if (limited && feasible === 0) {
      cursor.at = at;
      firstFeasible = k;
    }
    const { score, technology } = scoreHost(host, ask);
    if (!best || score > best.score || (score === best.score && host.hostname < best.host.hostname)) best = { host, score, technology };
    if (limited && ++feasible >= limit) break;
  }
  return best;
}

/** One of the `k` best feasible hosts (of at most `limit` scored) at random: after a lost race, racers stop all aiming at one host. */
function randomAmongBest(hosts: HostView[], ask: PlacementAsk, ctx: FilterContext, k: number, limit: number): Candidate | null {
  const top: Candidate[] = [];
  const n = hosts.length;
  const start = Math.floor(Math.random() * n);
  let feasible = 0;
  for (let i = 0; i < n && (limit <= 0 || feasible < limit); i++) {
    const host = hosts[(start + i) % n]!;
    if (!passesAll(host, ask, ctx)) continue;
    feasible++;
    top.push({ host, ...scoreHost(host, ask) });
    top.sort((a, b) => b.score - a.score);
    if (top.length > k) top.pop();
  }
  return top.length ? top[Math.floor(Math.random() * top.length)]! : null;
}

/**
 * Where the decisions of one planning round scan a large host list. They share it: they look at
 * one window of hosts, which stays in the CPU's caches (a scan from a new random place for every
 * decision was bound by memory latency, several times slower), and each moves it on past the
 * hosts it found full. Each round starts somewhere else at random, so rounds fill the cluster
 * evenly (one window kept for many rounds fills up and makes every scan long).
 */
export interface ScanCursor {
  at: number;
}

/** How `placeReplicas` looks for hosts. */
export interface PlaceOptions {
  /** Hosts named for each replica (DIRECT, or an admin's approval choice): checked, not chosen. */
  pinned?: HostView[];
  /** Above 1, each replica goes to one of that many best hosts at random (retries after a lost race). */
  randomTop?: number;
  /** Feasible hosts scored per replica before the best is taken (0 = all; default DEFAULT_CANDIDATE_LIMIT). */
  limit?: number;
  /** The round's scan cursor (default: one of its own, at random). */
  cursor?: ScanCursor;
}

/**
 * Places every replica of a request, greedily, best host first, honouring anti-affinity between
 * replicas. Each placed replica is charged to the in-memory views (so later replicas and later
 * requests of a batch see it); `undo` reverses that. Returns null, with the rejections of the
 * replica that found no host (of at most EXPLAINED_HOSTS hosts), when the request cannot be
 * placed whole.
 */
export function placeReplicas(hosts: HostView[] | Map<string, HostView>, ask: PlacementAsk, options: PlaceOptions = {}): { placed: PlacedReplica[]; undo: () => void } | { placed: null; failedReplica: number; evaluation: Evaluation } {
  const { pinned, randomTop = 1, limit = DEFAULT_CANDIDATE_LIMIT } = options;
  const list = hosts instanceof Map ? [...hosts.values()] : hosts;
  const cursor = options.cursor ?? { at: Math.floor(Math.random() * list.length) };
  const ctx: FilterContext = { chosenHostIds: new Set(), chosenSiteIds: new Set() };
  const placed: PlacedReplica[] = [];
  const undo = () => {
    for (const p of placed.splice(0)) charge(p.host, ask, -1);
  };
  for (let i = 0; i < ask.spec.replicas; i++) {
    const pool = pinned ? [pinned[i]!] : list;
    const best = randomTop > 1 ? randomAmongBest(pool, ask, ctx, randomTop, limit) : bestHost(pool, ask, ctx, limit, cursor);
    if (!best) {
      const evaluation = evaluateHosts(pool.length > EXPLAINED_HOSTS ? pool.slice(0, EXPLAINED_HOSTS) : pool, ask, ctx);
      undo();
      return { placed: null, failedReplica: i, evaluation };
    }
    charge(best.host, ask, 1);
    placed.push(best);
    ctx.chosenHostIds.add(best.host.id);
    ctx.chosenSiteIds.add(best.host.siteId);
  }
  return { placed, undo };
}

/** Adds (sign 1) or removes (sign −1) one replica's wants to the host's in-memory inventory. */
export function charge(host: HostView, ask: PlacementAsk, sign: 1 | -1): void {
  for (const want of ask.spec.resources) {
    const r = host.resources.get(want.type);
    if (!r) continue;
    r.used += sign * want.amount;
    if (ask.guaranteed) r.guaranteedUsed += sign * want.amount;
    r.usedByGroup.set(ask.groupId, (r.usedByGroup.get(ask.groupId) ?? 0) + sign * want.amount);
  }
}
