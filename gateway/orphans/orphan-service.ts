import { type DataSource, In, Not } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import type { HostAgent } from '../agent/host-agent';
import { HostOwners } from '../auth/host-owners';
import type { Principal } from '../auth/principal';
import { NotFoundError, UnavailableError } from '../errors';
import type { Logger } from '../logging/logger';
import { EnvironmentEntity, EnvironmentStatus, HostEntity } from '../persistence/entities';
import { UUID_PATTERN } from '../persistence/time-ordered-id';

/** An object RSP made on an engine that the database does not know (or knows as DESTROYED). */
export interface Orphan {
  /** The agent whose engine holds it. */
  agentId: string;
  /** The driver (registry name) that lists it. */
  driver: string;
  technology: string;
  /** Its id on the engine (the environment id RSP gave it). */
  name: string;
  foundAt: Date;
}

/** What `removeOrphans` did: what it removed and what it could not, with the reason. */
export interface OrphanRemoval {
  removed: Orphan[];
  failed: Array<{ orphan: Orphan; reason: string }>;
}

/**
 * Orphans: on each agent's connection, what its drivers list as RSP's is compared with the
 * database; what the database does not know (or knows as DESTROYED) is logged and kept as the
 * agent's last report (in memory, per gateway). Their removal goes through the agent's driver,
 * after a fresh look, so an environment the database knows is never removed. Drivers list only
 * what their owner made (this installation, or a remote agent itself) and what no owner made
 * (objects of versions before owners): another installation's objects on a shared engine are
 * never reported or removed; unowned ones still are, as before owners existed.
 */
export class OrphanService {
  private readonly reports = new Map<string, Orphan[]>();
  private readonly owners: HostOwners;

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly logger: Logger,
  ) {
    this.owners = new HostOwners(dataSource);
  }

  /** Looks for the agent's orphans now, keeps the report and logs each one; never throws (a failed look keeps the previous report). */
  async scan(agentId: string): Promise<Orphan[]> {
    const agent = await this.agents.soon(agentId);
    if (!agent) return this.reports.get(agentId) ?? [];
    try {
      const orphans = await this.find(agent);
      this.reports.set(agentId, orphans);
      const hosts = orphans.length ? (await this.dataSource.getRepository(HostEntity).findBy({ agent: agentId })).map((h) => h.hostname) : [];
      for (const o of orphans) this.logger.warn({ agent: agentId, hosts, driver: o.driver, technology: o.technology, name: o.name }, 'orphan on the engine: RSP made it, the database does not know it');
      return orphans;
    } catch (e) {
      this.logger.warn({ err: e, agent: agentId }, 'could not look for orphans');
      return this.reports.get(agentId) ?? [];
    }
  }

  /** The last orphans found on the host's agent (site admins and admins of its owner groups). */
  async ofHost(actor: Principal, host: Pick<HostEntity, 'id' | 'agent'>): Promise<Orphan[]> {
    await this.owners.requireGovernsHost(actor, host.id, 'see the orphans of this host');
    return this.reports.get(host.agent) ?? [];
  }

  /** Removes the host agent's orphans through its drivers (site admins and admins of its owner groups), after looking again. */
  async remove(actor: Principal, hostId: string): Promise<OrphanRemoval> {
    await this.owners.requireGovernsHost(actor, hostId, 'remove the orphans of this host');
    const host = await this.dataSource.getRepository(HostEntity).findOneBy({ id: hostId });
    if (!host) throw new NotFoundError('Host', hostId);
    const agent = await this.agents.soon(host.agent);
    if (!agent) throw new UnavailableError(`The agent of host ${host.hostname} is not connected`, { hostId, agent: host.agent });
    const result: OrphanRemoval = { removed: [], failed: [] };
    for (const orphan of await this.find(agent)) {
      try {
        await agent.destroyEnvironment({ driver: orphan.driver, environmentId: orphan.name }, callContext(agent));
        result.removed.push(orphan);
      } catch (e) {
        result.failed.push({ orphan, reason: e instanceof Error ? e.message : String(e) });
      }
    }
    this.logger.info({ agent: host.agent, host: host.hostname, removed: result.removed.map((o) => o.name), failed: result.failed.map((f) => f.orphan.name) }, 'orphans removed');
    await this.scan(host.agent);
    return result;
  }

  /** What the agent's available drivers list that no live environment of the database is. */
  private async find(agent: HostAgent): Promise<Orphan[]> {
    const foundAt = new Date();
    const listed: Orphan[] = [];
    for (const driver of (await agent.drivers(undefined, callContext(agent))).filter((d) => d.available)) {
      for (const info of await agent.listEnvironments({ driver: driver.name }, callContext(agent))) {
        listed.push({ agentId: agent.id, driver: driver.name, technology: driver.technology, name: info.id, foundAt });
      }
    }
    const ids = [...new Set(listed.map((o) => o.name).filter((id) => UUID_PATTERN.test(id)))];
    const known = ids.length
      ? new Set((await this.dataSource.getRepository(EnvironmentEntity).find({ select: { id: true }, where: { id: In(ids), status: Not(EnvironmentStatus.DESTROYED) } })).map((e) => e.id))
      : new Set<string>();
    return listed.filter((o) => !known.has(o.name));
  }
}
