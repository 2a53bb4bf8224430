import { DataSource, Repository } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import type { HostFactsData } from '../agent/host-facts';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import type { Logger } from '../logging/logger';
import { BatchedStatement } from '../persistence/batched-statement';
import { HostEntity, ResourceSource } from '../persistence/entities';
import { rowsOf } from '../placement/claims';
import { inventoryChanged } from '../placement/inventory-changes';
import { factResources, type FactResource } from './host-inventory';
import type { SiteService } from './site-service';

/** A fact the gateway could not apply: a resource whose new total would not hold what is already used of it. */
export interface FactsWarning {
  hostId: string;
  hostname: string;
  type: string;
  /** What the facts say. */
  factsTotal: number;
  /** What the resource keeps. */
  total: number;
  used: number;
  message: string;
}

/** What recording an agent's facts did. */
export interface FactsRecorded {
  /** The hosts it serves, with their technologies and facts as recorded. */
  hosts: HostEntity[];
  warnings: FactsWarning[];
}

/**
 * Host facts pushed by (or asked of) host agents: each host an agent serves gets its technologies
 * (`SiteService.recordProbe`) and its facts; one registered with `inventoryFromFacts` also gets
 * its resource inventory filled from them. A resource
 * of a type the host lacks is created as FACTS; the facts then keep the `total` of FACTS resources
 * up to date, leaving what a site admin set on them (reserved, ratio, unit bounds). A resource a
 * site admin typed (ADMIN) is never touched. A total that would fall below what is used is kept,
 * with a warning.
 */
export class HostFactsService {
  private readonly hosts: Repository<HostEntity>;
  /** Facts written on hosts, for many reporting agents in one statement. */
  private readonly factsWrites = new BatchedStatement<{ hostIds: string[]; facts: HostFactsData }, void>(async (writes) => {
    const rows = writes.flatMap((w) => w.hostIds.map((id) => [id, JSON.stringify(w.facts)] as const));
    await this.dataSource.query(`UPDATE host AS h SET facts = v.facts::jsonb FROM unnest($1::uuid[], $2::text[]) AS v(id, facts) WHERE h.id = v.id`, [rows.map(([id]) => id), rows.map(([, f]) => f)]);
    return () => undefined;
  });

  constructor(
    private readonly dataSource: DataSource,
    private readonly sites: SiteService,
    private readonly agents: AgentLink,
    private readonly logger: Logger,
  ) {
    this.hosts = dataSource.getRepository(HostEntity);
  }

  /** Records an agent's facts on every host it serves (or only on `hostIds`). */
  async recordFacts(agentId: string, facts: HostFactsData, hostIds?: string[]): Promise<FactsRecorded> {
    const probed = await this.sites.recordProbe(agentId, facts.drivers);
    const hosts = hostIds ? probed.filter((h) => hostIds.includes(h.id)) : probed;
    const warnings: FactsWarning[] = [];
    const resources = factResources(facts);
    // One statement for all its hosts, and for the other agents reporting meanwhile: a thousand agents reconnecting at once write a thousand rows in a few statements.
    if (hosts.length) await this.factsWrites.load({ hostIds: hosts.map((h) => h.id), facts });
    const changed = new Set<string>();
    for (const host of hosts) {
      host.facts = facts;
      if (!host.inventoryFromFacts) continue;
      for (const resource of resources) {
        const applied = await this.applyResource(host, resource);
        if (applied.warning) warnings.push(applied.warning);
        if (applied.changed) changed.add(host.id);
      }
    }
    inventoryChanged(this.dataSource, changed);
    for (const w of warnings) this.logger.warn({ agent: agentId, hostId: w.hostId, type: w.type, factsTotal: w.factsTotal, total: w.total, used: w.used }, w.message);
    return { hosts, warnings };
  }

  /** Asks a connected agent for its facts and records them; nothing when it is not connected. */
  async refreshAgent(agentId: string, hostIds?: string[]): Promise<FactsRecorded | undefined> {
    const agent = this.agents.get(agentId);
    if (!agent) return undefined;
    return this.recordFacts(agentId, await agent.hostFacts(), hostIds);
  }

  /**
   * Registers a host (`SiteService.createHost`) and, when its agent is connected, fills its
   * technologies and resources from the agent's facts at once.
   */
  async createHost(actor: Principal, input: Parameters<SiteService['createHost']>[1]): Promise<HostEntity> {
    const host = await this.sites.createHost(actor, input);
    const recorded = await this.refreshAgent(host.agent, [host.id]);
    return recorded?.hosts[0] ?? host;
  }

  /**
   * Site admins turn a host's inventory from facts on (filled at once when its agent is connected)
   * or off (its FACTS resources then stay as they are until an admin edits them).
   */
  async setInventoryFromFacts(actor: Principal, id: string, on: boolean): Promise<HostEntity> {
    policy.requireSiteAdmin(actor, 'change where inventories come from');
    const host = await this.sites.getHost(actor, id);
    await this.hosts.update(host.id, { inventoryFromFacts: on });
    host.inventoryFromFacts = on;
    if (!on) return host;
    const recorded = await this.refreshAgent(host.agent, [host.id]);
    return recorded?.hosts[0] ?? host;
  }

  /**
   * Creates the resource as FACTS when the host has none of its type, or brings the total of its
   * FACTS resource to what the facts say when that still holds what is used (a warning otherwise).
   * One statement each, so a concurrent claim or admin edit is never lost. Says whether the
   * resource was created or changed.
   */
  private async applyResource(host: HostEntity, resource: FactResource): Promise<{ changed: boolean; warning?: FactsWarning }> {
    const inserted = rowsOf<{ id: string }>(
      await this.dataSource.query(
        `INSERT INTO resource ("hostId", type, unit, total, description, source, generation)
         VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT ("hostId", type) DO NOTHING RETURNING id`,
        [host.id, resource.type, resource.unit, resource.total, resource.description, ResourceSource.FACTS],
      ),
    );
    if (inserted.length) return { changed: true };
    const updated = rowsOf<{ id: string }>(
      await this.dataSource.query(
        `UPDATE resource SET total = $3, generation = generation + 1
         WHERE "hostId" = $1 AND type = $2 AND source = $4 AND total <> $3 AND reserved <= $3 AND ($3 - reserved) * "allocationRatio" >= used - 1e-6
         RETURNING id`,
        [host.id, resource.type, resource.total, ResourceSource.FACTS],
      ),
    );
    if (updated.length) return { changed: true };
    const [kept] = rowsOf<{ total: number; used: number; reserved: number }>(
      await this.dataSource.query(`SELECT total, used, reserved FROM resource WHERE "hostId" = $1 AND type = $2 AND source = $3 AND total <> $4`, [host.id, resource.type, ResourceSource.FACTS, resource.total]),
    );
    if (!kept) return { changed: false };
    const warning: FactsWarning = {
      hostId: host.id,
      hostname: host.hostname,
      type: resource.type,
      factsTotal: resource.total,
      total: Number(kept.total),
      used: Number(kept.used),
      message: `Host ${host.hostname}: its agent reports ${resource.type} ${resource.total}, below what its inventory needs to hold (${Number(kept.used)} used, ${Number(kept.reserved)} reserved); the total stays ${Number(kept.total)} until that is freed`,
    };
    return { changed: false, warning };
  }
}
