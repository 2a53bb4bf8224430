import type { DataSource, EntityManager } from 'typeorm';
import { monthOf } from '../metrics/usage-accountant';
import { breachesOf, usageBreaches, usageBreachesSubquery, type UsageBreach } from '../metrics/usage-breaches';
import { HostState, LayerEntity, PlacementPolicy, UsagePolicyMode } from '../persistence/entities';
import { effectiveProperties } from '../services/layer-service';
import { onInventoryChange, type ChangedHosts } from './inventory-changes';
import { intern, type HostView, type ResourceView } from './model';

interface HostRow {
  id: string;
  hostname: string;
  siteId: string;
  state: HostState;
  drivers: string[];
  ownerGroupId: string;
  layerId: string | null;
  placementPolicy: PlacementPolicy;
}

/** A resource row as read from the database (numeric columns may come as strings). */
interface ResourceRow {
  id: string;
  hostId: string;
  type: string;
  unit: string;
  total: number | string;
  reserved: number | string;
  allocationRatio: number | string;
  minUnit: number | string;
  maxUnit: number | string | null;
  stepSize: number | string;
  used: number | string;
  generation: number | string;
}

/**
 * The scheduler's view of a resource row, without claim totals. Built as one literal so every
 * view in the picture has the same hidden class with unboxed number fields: views copied from the
 * driver's row objects (spread) kept the rows' shape, boxed every number, and made each host the
 * scan looked at about ten times slower to check.
 */
function resourceView(r: ResourceRow): ResourceView {
  return {
    id: r.id,
    type: intern(r.type),
    unit: intern(r.unit),
    total: Number(r.total),
    reserved: Number(r.reserved),
    allocationRatio: Number(r.allocationRatio),
    minUnit: Number(r.minUnit),
    maxUnit: r.maxUnit === null ? null : Number(r.maxUnit),
    stepSize: Number(r.stepSize),
    used: Number(r.used),
    guaranteedUsed: 0,
    usedByGroup: new Map(),
    generation: Number(r.generation),
  };
}

/** Reads resources (all of them, or those of `hostIds`, or those named) with their claim totals. */
async function loadResourceViews(dataSource: DataSource | EntityManager, where: { hostIds?: string[]; ids?: string[] }, lock = false): Promise<Array<{ hostId: string; view: ResourceView }>> {
  const filter = where.ids ? ' WHERE id = ANY($1)' : where.hostIds ? ' WHERE "hostId" = ANY($1)' : '';
  const claimFilter = where.ids ? ' AND "resourceId" = ANY($1)' : where.hostIds ? ' AND "hostId" = ANY($1)' : '';
  const params = where.ids ? [where.ids] : where.hostIds ? [where.hostIds] : [];
  const resources: ResourceRow[] = await dataSource.query(`SELECT id, "hostId", type, unit, total, reserved, "allocationRatio", "minUnit", "maxUnit", "stepSize", used, generation FROM resource${filter}${lock ? ' ORDER BY id FOR UPDATE' : ''}`, params);
  const claims: Array<{ resourceId: string; groupId: string; guaranteed: boolean; amount: number }> = await dataSource.query(
    `SELECT "resourceId", "groupId", guaranteed, SUM(amount)::float8 AS amount FROM allocation_claim WHERE active${claimFilter} GROUP BY 1, 2, 3`,
    params,
  );
  const byId = new Map<string, { hostId: string; view: ResourceView }>();
  for (const r of resources) byId.set(r.id, { hostId: r.hostId, view: resourceView(r) });
  for (const c of claims) {
    const r = byId.get(c.resourceId)?.view;
    if (!r) continue;
    const amount = Number(c.amount);
    if (c.guaranteed) r.guaranteedUsed += amount;
    const groupId = intern(c.groupId);
    r.usedByGroup.set(groupId, (r.usedByGroup.get(groupId) ?? 0) + amount);
  }
  return [...byId.values()];
}

/**
 * Reads hosts (all, or those named) without their resources: state, technologies, site policy,
 * properties (unless `properties` is false: left empty), share quotas, usage policies over. With
 * `group`, only that group's share and usage policies, all in one statement.
 */
async function loadHostShells(dataSource: DataSource | EntityManager, hostIds?: string[], properties = true, group?: string): Promise<Map<string, HostView>> {
  const only = hostIds ? ' WHERE h.id = ANY($1)' : '';
  const params = hostIds ? [hostIds] : [];
  let hosts: HostRow[];
  let shares: Array<{ hostId: string; groupId: string; quotas: Record<string, number> }>;
  let breaches: UsageBreach[];
  if (group && hostIds) {
    // One statement: a share is unique per host and group (at most one row joins each host), and
    // the group's REFUSE usage policies over in each host's site come as JSON with it.
    const rows: Array<HostRow & { quotas: Record<string, number> | null; breaches: Parameters<typeof breachesOf>[0] }> = await dataSource.query(
      `SELECT hx.id, hx.hostname, hx."siteId", hx.state, hx.drivers, hx."ownerGroupId", hx."layerId", sx."placementPolicy", sh.quotas,
              ${usageBreachesSubquery('$3::varchar', 'ARRAY[hx."siteId"]', 'ARRAY[$2::uuid]', '$4::varchar')} AS breaches
         FROM host hx JOIN site sx ON sx.id = hx."siteId" LEFT JOIN share sh ON sh."hostId" = hx.id AND sh."groupId" = $2 WHERE hx.id = ANY($1)`,
      [hostIds, group, monthOf(Date.now()), UsagePolicyMode.REFUSE],
    );
    hosts = rows;
    shares = rows.filter((r) => r.quotas !== null).map((r) => ({ hostId: r.id, groupId: group, quotas: r.quotas! }));
    breaches = rows.flatMap((r) => breachesOf(r.breaches));
  } else {
    hosts = await dataSource.query(`SELECT h.id, h.hostname, h."siteId", h.state, h.drivers, h."ownerGroupId", h."layerId", s."placementPolicy" FROM host h JOIN site s ON s.id = h."siteId"${only}`, params);
    shares = await dataSource.query(`SELECT "hostId", "groupId", quotas FROM share${hostIds ? ' WHERE "hostId" = ANY($1)' : ''}`, params);
    breaches = hosts.length ? await usageBreaches(dataSource, { mode: UsagePolicyMode.REFUSE, ...(hostIds ? { siteIds: [...new Set(hosts.map((h) => h.siteId))] } : {}) }) : [];
  }
  const layerIds = properties ? hosts.map((h) => h.layerId).filter((id): id is string => id !== null) : [];
  const layers: LayerEntity[] = layerIds.length ? await dataSource.getRepository(LayerEntity).createQueryBuilder('l').where('l.id = ANY(:ids)', { ids: layerIds }).getMany() : [];
  const layerById = new Map(layers.map((l) => [l.id, l]));
  const views = new Map<string, HostView>();
  for (const h of hosts) {
    const layer = h.layerId ? layerById.get(h.layerId) : undefined;
    views.set(h.id, {
      id: h.id,
      hostname: h.hostname,
      siteId: h.siteId,
      sitePolicy: h.placementPolicy,
      state: h.state,
      drivers: h.drivers.map(intern),
      ownerGroupId: h.ownerGroupId,
      resources: new Map(),
      properties: layer ? effectiveProperties([layer]) : [],
      quotas: new Map(),
      policyBreaches: new Map(),
    });
  }
  for (const s of shares) views.get(s.hostId)?.quotas.set(intern(s.groupId), s.quotas);
  for (const view of views.values()) {
    for (const b of breaches) if (b.siteId === view.siteId && !view.policyBreaches.has(b.groupId)) view.policyBreaches.set(intern(b.groupId), b);
  }
  return views;
}

/**
 * Reads hosts as the scheduler sees them. Resources are read before the claim sums, so a claim
 * committed in between is counted while the generation read is already stale: the claim's
 * generation check then fails and the host is read again. The views are never more optimistic
 * than the database at the generation they carry. Inside a transaction, pass its EntityManager;
 * `lockResources` reads the resources locked (FOR UPDATE, in id order, as every claim locks
 * them), so they cannot move before the transaction ends. A caller that judges no properties
 * (`properties: false`) or no resources (`resources: false`) has them left empty, unread; one
 * that judges for one group (`group`, with `hostIds`) has only that group's share quotas and
 * usage policies read.
 */
export async function loadHostViews(dataSource: DataSource | EntityManager, hostIds?: string[], options: { lockResources?: boolean; properties?: boolean; resources?: boolean; group?: string } = {}): Promise<Map<string, HostView>> {
  const views = await loadHostShells(dataSource, hostIds, options.properties ?? true, options.group);
  if (options.resources === false) return views;
  for (const { hostId, view } of await loadResourceViews(dataSource, { hostIds }, options.lockResources)) views.get(hostId)?.resources.set(view.type, view);
  return views;
}

/**
 * A digest of everything the hosts' own views are made of (hosts, their sites' policies, their
 * machine layers' properties, shares, the REFUSE usage policies groups are over), order-independent: it changes when any of it does, and
 * costs the database one pass instead of the gateway a re-read of every host and share.
 */
async function hostsDigest(dataSource: DataSource): Promise<string> {
  const breaches = (await usageBreaches(dataSource, { mode: UsagePolicyMode.REFUSE })).map((b) => `${b.policyId}|${b.groupId}`).sort();
  const [row]: Array<{ n: string; sum: string | null }> = await dataSource.query(
    `SELECT count(*)::text AS n, sum(hashtextextended(x, 0))::text AS sum FROM (
       SELECT concat_ws('|', h.id, h.hostname, h."siteId", h.state, h.drivers::text, h."ownerGroupId", h."layerId", s."placementPolicy", l.properties::text) AS x
         FROM host h JOIN site s ON s.id = h."siteId" LEFT JOIN layer l ON l.id = h."layerId"
       UNION ALL SELECT concat_ws('|', sh.id, sh."hostId", sh."groupId", sh.quotas::text) FROM share sh) t`,
  );
  return `${row?.n}:${row?.sum}:${breaches.join(',')}`;
}

/** Resource rows read per statement by a background check. */
const CHECK_PAGE = 1000;

/** How many inventory checks pass between two looks at the hosts themselves (state, shares, properties). */
export const HOST_REREAD_EVERY = 10;

/**
 * The scheduler's picture of every host. With `maxAgeMs` 0 every decision reads the database
 * afresh; above 0 one picture is shared by the decisions of this gateway and kept current by
 * them (claims charge it at once, with the generation they expect).
 *
 * It is read whole once, then kept current incrementally in the background: every `maxAgeMs` the
 * resources' generations are compared with the picture's and only the resources whose generation
 * moved past it (changed by someone else: another gateway, a release, an inventory edit) are read
 * again, with their claim totals; a resource whose generation in the database is behind the
 * picture's is one this gateway is claiming right now and is left as it is. Every
 * HOST_REREAD_EVERY checks a digest of the hosts themselves (new hosts, state, shares, properties)
 * is compared, and they are re-read when it changed. After a lost race or a release the hosts
 * concerned are read again before the next decision, merged the same way, and so are the hosts an
 * inventory write names (`inventoryChanged`: on this gateway at once, from other replicas over the
 * bus); a write that may touch every host has them all read again before the next decision. A
 * picture that is out of date is never unsafe: every claim is checked against the database when it
 * commits (capacity, shares, host state).
 */
export class InventorySnapshot {
  private shared: Map<string, HostView> | null = null;
  /** Every resource of the picture by id, with its host and the check during which it was taken in. */
  private readonly resources = new Map<string, { hostId: string; view: ResourceView; since: number }>();
  private checkedAt = 0;
  private checks = 0;
  private loading: Promise<void> | null = null;
  /** The check running now (background or catch-up), so two never run at once. */
  private checking: Promise<void> | null = null;
  private readonly stale = new Set<string>();
  /** The hosts' digest when the picture's hosts were last read. */
  private hostsRead = '';
  /** The shared picture's hosts as a list, rebuilt only when a host enters or leaves it. */
  private listed: HostView[] | null = null;
  /** True when a write may have touched every host: their own fields are read again before the next decision. */
  private everyHostStale = false;
  private readonly unlisten: () => void;

  constructor(
    private readonly dataSource: DataSource,
    private readonly maxAgeMs: number,
    /** Resource rows read per statement by a background check. */
    private readonly pageRows = CHECK_PAGE,
  ) {
    this.unlisten = maxAgeMs > 0 ? onInventoryChange(dataSource, (hostIds) => this.changed(hostIds)) : () => undefined;
  }

  /** Stops hearing of inventory changes (the picture is no longer used). */
  close(): void {
    this.unlisten();
  }

  /** An inventory write: the hosts named (or every host's own fields) are read again before the next decision. */
  private changed(hostIds: ChangedHosts): void {
    if (!this.shared && !this.loading) return;
    if (hostIds) this.invalidate(hostIds);
    else this.everyHostStale = true;
  }

  /** True when decisions share one picture (and so must charge it). */
  get isShared(): boolean {
    return this.maxAgeMs > 0;
  }

  /** The hosts to decide on. */
  async hosts(): Promise<Map<string, HostView>> {
    if (this.maxAgeMs <= 0) return loadHostViews(this.dataSource);
    if (!this.shared) {
      this.loading ??= Promise.all([hostsDigest(this.dataSource), loadHostViews(this.dataSource)])
        .then(([digest, views]) => {
          this.hostsRead = digest;
          this.shared = views;
          this.listed = null;
          this.checkedAt = Date.now();
          for (const host of views.values()) this.index(host);
        })
        .finally(() => (this.loading = null));
      await this.loading;
    } else if (!this.checking && Date.now() - this.checkedAt > this.maxAgeMs) {
      // A failed check keeps the picture; the next decision after maxAgeMs tries again.
      void this.check(++this.checks % HOST_REREAD_EVERY === 0).catch(() => undefined);
    }
    if (this.everyHostStale) {
      this.everyHostStale = false;
      const [digest, shells] = await Promise.all([hostsDigest(this.dataSource), loadHostShells(this.dataSource)]).catch((e: unknown) => {
        this.everyHostStale = true;
        throw e;
      });
      this.hostsRead = digest;
      this.applyHosts(shells);
    }
    if (this.stale.size) {
      const ids = [...this.stale];
      this.stale.clear();
      const fresh = await loadHostViews(this.dataSource, ids);
      for (const id of ids) this.mergeHost(id, fresh.get(id));
    }
    return this.shared!;
  }

  /** `hosts` as a list: for the shared picture, the same array until a host enters or leaves it. */
  list(hosts: Map<string, HostView>): HostView[] {
    if (hosts !== this.shared) return [...hosts.values()];
    return (this.listed ??= [...hosts.values()]);
  }

  /**
   * Brings the picture up to date now, hosts included (new hosts, state, shares, properties,
   * resources that moved), before a refusal made on it is final: what was written since the last
   * check, by this gateway or another, is seen. Waits for a check already running first.
   */
  async catchUp(): Promise<void> {
    if (this.maxAgeMs <= 0 || !this.shared) return;
    await this.checking?.catch(() => undefined);
    await this.check(true, ++this.checks);
  }

  private check(hostsToo: boolean, check = this.checks): Promise<void> {
    this.checkedAt = Date.now();
    const running = this.refresh(hostsToo, check).finally(() => {
      if (this.checking === running) this.checking = null;
    });
    this.checking = running;
    return running;
  }

  /** Marks hosts to be re-read before the next decision (after a lost race or a release). */
  invalidate(hostIds: Iterable<string>): void {
    if (this.maxAgeMs <= 0) return;
    for (const id of hostIds) this.stale.add(id);
  }

  /**
   * One background check: resources whose generation moved, and (with `hostsToo`) the hosts
   * themselves when their digest changed. The generations are read `pageRows` rows at a time, in
   * id order, and each page is compared as it comes, so the check never holds the event loop for
   * long (one read of every row at once cost decisions tens of milliseconds every check).
   */
  private async refresh(hostsToo: boolean, check: number): Promise<void> {
    const digest = hostsToo ? await hostsDigest(this.dataSource) : this.hostsRead;
    const shells = digest !== this.hostsRead ? await loadHostShells(this.dataSource) : null;
    this.hostsRead = digest;
    if (shells) this.applyHosts(shells);
    const seen: string[] = [];
    const moved: string[] = [];
    let knownSeen = 0;
    for (let after: string | null = null; ; ) {
      const page: Array<{ id: string; hostId: string; generation: number }> = await this.dataSource.query(
        `SELECT id, "hostId", generation FROM resource${after ? ' WHERE id > $2' : ''} ORDER BY id LIMIT $1`,
        after ? [this.pageRows, after] : [this.pageRows],
      );
      for (const g of page) {
        seen.push(g.id);
        const known = this.resources.get(g.id);
        if (known) knownSeen++;
        if (known ? Number(g.generation) > known.view.generation : this.shared!.has(g.hostId)) moved.push(g.id);
      }
      if (page.length < this.pageRows) break;
      after = page[page.length - 1]!.id;
    }
    // Every resource of the picture was seen (the usual case) unless some are gone from the database.
    if (knownSeen !== this.resources.size) this.dropGone(new Set(seen), check);
    if (!moved.length) return;
    for (const { hostId, view: fresh } of await loadResourceViews(this.dataSource, { ids: moved })) {
      const known = this.resources.get(fresh.id);
      if (known) {
        // Claims of this gateway may have moved it further meanwhile: then theirs is the newer view.
        if (fresh.generation > known.view.generation) Object.assign(known.view, fresh);
        continue;
      }
      const host = this.shared!.get(hostId);
      if (!host) continue;
      host.resources.set(fresh.type, fresh);
      this.resources.set(fresh.id, { hostId: host.id, view: fresh, since: this.checks });
    }
  }

  /** Drops the resources the check did not find, but those the picture took in during the check (read after their page passed). */
  private dropGone(seen: Set<string>, check: number): void {
    for (const [id, { hostId, view, since }] of this.resources) {
      if (seen.has(id) || since >= check) continue;
      this.resources.delete(id);
      const host = this.shared!.get(hostId);
      if (host?.resources.get(view.type) === view) host.resources.delete(view.type);
    }
  }

  /** Takes the hosts' own fields from a fresh read, keeping the resources; new hosts are read whole, gone ones dropped. */
  private applyHosts(shells: Map<string, HostView>): void {
    for (const [id, shell] of shells) {
      const host = this.shared!.get(id);
      if (!host) {
        this.stale.add(id);
        continue;
      }
      Object.assign(host, { ...shell, resources: host.resources });
    }
    for (const id of [...this.shared!.keys()]) if (!shells.has(id)) this.mergeHost(id, undefined);
  }

  /**
   * Puts a host read afresh in the picture (or removes it). Its own fields are taken as read; a
   * resource is taken as read only when its generation moved past the picture's (one behind it has
   * claims of this gateway in flight, which the read cannot show). The resource index follows.
   */
  private mergeHost(id: string, fresh: HostView | undefined): void {
    const old = this.shared!.get(id);
    if (old) for (const r of old.resources.values()) this.resources.delete(r.id);
    if (!fresh) {
      if (this.shared!.delete(id)) this.listed = null;
      return;
    }
    const resources = new Map<string, ResourceView>();
    for (const [type, r] of fresh.resources) {
      const known = old && [...old.resources.values()].find((o) => o.id === r.id);
      if (known && known.generation < r.generation) Object.assign(known, r);
      resources.set(type, known ?? r);
    }
    // The fresh view itself when the host is new (a spread copy would get a shape of its own).
    const host = old ? Object.assign(old, { ...fresh, resources }) : Object.assign(fresh, { resources });
    if (!old) this.listed = null;
    this.shared!.set(id, host);
    this.index(host);
  }

  private index(host: HostView): void {
    for (const r of host.resources.values()) this.resources.set(r.id, { hostId: host.id, view: r, since: this.checks });
  }
}
