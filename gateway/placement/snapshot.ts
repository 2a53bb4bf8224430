import type { DataSource } from 'typeorm';
import { HostState, LayerEntity, PlacementPolicy } from '../persistence/entities';
import { effectiveProperties } from '../services/layer-service';
import type { HostView, ResourceView } from './model';

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

/** A resource row as read from the database: the scheduler's view without the claim totals. */
type ResourceRow = Omit<ResourceView, 'guaranteedUsed' | 'usedByGroup'> & { hostId: string };

/**
 * Reads hosts as the scheduler sees them. Resources are read before the claim sums, so a claim
 * committed in between is counted while the generation read is already stale: the claim's
 * generation check then fails and the host is read again. The views are never more optimistic
 * than the database at the generation they carry.
 */
export async function loadHostViews(dataSource: DataSource, hostIds?: string[]): Promise<Map<string, HostView>> {
  const only = hostIds ? ' WHERE h.id = ANY($1)' : '';
  const params = hostIds ? [hostIds] : [];
  const hosts: HostRow[] = await dataSource.query(
    `SELECT h.id, h.hostname, h."siteId", h.state, h.drivers, h."ownerGroupId", h."layerId", s."placementPolicy" FROM host h JOIN site s ON s.id = h."siteId"${only}`,
    params,
  );
  const resources: ResourceRow[] = await dataSource.query(
    `SELECT id, "hostId", type, unit, total, reserved, "allocationRatio", "minUnit", "maxUnit", "stepSize", used, generation FROM resource${hostIds ? ' WHERE "hostId" = ANY($1)' : ''}`,
    params,
  );
  const claims: Array<{ resourceId: string; groupId: string; guaranteed: boolean; amount: number }> = await dataSource.query(
    `SELECT "resourceId", "groupId", guaranteed, SUM(amount)::float8 AS amount FROM allocation_claim WHERE active${hostIds ? ' AND "hostId" = ANY($1)' : ''} GROUP BY 1, 2, 3`,
    params,
  );
  const shares: Array<{ hostId: string; groupId: string; quotas: Record<string, number> }> = await dataSource.query(
    `SELECT "hostId", "groupId", quotas FROM share${hostIds ? ' WHERE "hostId" = ANY($1)' : ''}`,
    params,
  );
  const layerIds = hosts.map((h) => h.layerId).filter((id): id is string => id !== null);
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
      drivers: h.drivers,
      ownerGroupId: h.ownerGroupId,
      resources: new Map(),
      properties: layer ? effectiveProperties([layer]) : [],
      quotas: new Map(),
    });
  }
  const resourceById = new Map<string, ResourceView>();
  for (const r of resources) {
    const view: ResourceView = { ...r, total: Number(r.total), reserved: Number(r.reserved), allocationRatio: Number(r.allocationRatio), minUnit: Number(r.minUnit), maxUnit: r.maxUnit === null ? null : Number(r.maxUnit), stepSize: Number(r.stepSize), used: Number(r.used), generation: Number(r.generation), guaranteedUsed: 0, usedByGroup: new Map() };
    resourceById.set(r.id, view);
    views.get(r.hostId)?.resources.set(r.type, view);
  }
  for (const c of claims) {
    const r = resourceById.get(c.resourceId);
    if (!r) continue;
    const amount = Number(c.amount);
    if (c.guaranteed) r.guaranteedUsed += amount;
    r.usedByGroup.set(c.groupId, (r.usedByGroup.get(c.groupId) ?? 0) + amount);
  }
  for (const s of shares) views.get(s.hostId)?.quotas.set(s.groupId, s.quotas);
  return views;
}

/**
 * The scheduler's picture of every host. With `maxAgeMs` 0 every decision reads the database
 * afresh; above 0 one picture is shared by the decisions of this gateway and kept current by
 * them (claims charge it at once, with the generation they expect). It is re-read whole in the
 * background when older than `maxAgeMs` (decisions go on with the old one meanwhile; hosts
 * claimed during the read are read again before the new picture is used) and host by host after
 * a lost race. Changes made elsewhere (new hosts, host state, shares) are seen within about
 * `maxAgeMs`; inventory changes bump the generation and are seen at the next claim on that host.
 */
export class InventorySnapshot {
  private shared: Map<string, HostView> | null = null;
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  private fresh: Map<string, HostView> | null = null;
  private readonly stale = new Set<string>();
  private readonly touchedDuringLoad = new Set<string>();
  private loadError: unknown = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly maxAgeMs: number,
  ) {}

  /** True when decisions share one picture (and so must charge it). */
  get isShared(): boolean {
    return this.maxAgeMs > 0;
  }

  /** The hosts to decide on. */
  async hosts(): Promise<Map<string, HostView>> {
    if (this.maxAgeMs <= 0) return loadHostViews(this.dataSource);
    if (!this.shared) {
      this.startLoad();
      await this.loading;
      if (!this.fresh && !this.shared) throw this.loadError;
    } else if (!this.loading && Date.now() - this.loadedAt > this.maxAgeMs) {
      this.startLoad();
    }
    if (this.fresh) {
      this.shared = this.fresh;
      this.fresh = null;
      for (const id of this.touchedDuringLoad) this.stale.add(id);
      this.touchedDuringLoad.clear();
    }
    if (this.stale.size) {
      const ids = [...this.stale];
      this.stale.clear();
      const fresh = await loadHostViews(this.dataSource, ids);
      for (const id of ids) {
        const view = fresh.get(id);
        if (view) this.shared!.set(id, view);
        else this.shared!.delete(id);
      }
    }
    return this.shared!;
  }

  /** Records hosts this gateway claimed on or released: a picture being read may miss the change. */
  touched(hostIds: Iterable<string>): void {
    if (this.loading || this.fresh) for (const id of hostIds) this.touchedDuringLoad.add(id);
  }

  /** Marks hosts to be re-read before the next decision (after a lost race or a release). */
  invalidate(hostIds: Iterable<string>): void {
    if (this.maxAgeMs <= 0) return;
    for (const id of hostIds) {
      this.stale.add(id);
      if (this.loading || this.fresh) this.touchedDuringLoad.add(id);
    }
  }

  private startLoad(): void {
    if (this.loading) return;
    const started = Date.now();
    this.touchedDuringLoad.clear();
    this.loading = loadHostViews(this.dataSource)
      .then(
        (views) => {
          this.fresh = views;
          this.loadedAt = started;
        },
        (e: unknown) => {
          // A failed background read keeps the old picture; the next decision tries again.
          this.loadError = e;
          this.loadedAt = 0;
        },
      )
      .finally(() => (this.loading = null));
  }
}
