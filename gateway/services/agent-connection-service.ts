import { DataSource, In, IsNull, Repository } from 'typeorm';
import type { Logger } from '../logging/logger';
import { BatchedStatement } from '../persistence/batched-statement';
import { AgentConnectionEntity, HostEntity } from '../persistence/entities';

/** Whether a host's agent is connected now, was once, or never was. */
export enum AgentConnectionState {
  CONNECTED = 'CONNECTED',
  DISCONNECTED = 'DISCONNECTED',
  NEVER = 'NEVER',
}

/** A host's agent as `Host.agentConnection` shows it. */
export interface AgentConnectionView {
  agentId: string;
  state: AgentConnectionState;
  version: string | null;
  /** The agent protocol version its last connection negotiated. */
  protocol: number | null;
  connectedAt: Date | null;
  lastHeartbeatAt: Date | null;
}

/** What is known of a connecting agent. */
export interface ConnectingAgent {
  version: string;
  remoteAddress: string;
  /** The agent protocol version the handshake negotiated. */
  protocol: number;
}

/** A connection row as inserted. */
type NewConnection = Pick<AgentConnectionEntity, 'agentId' | 'gatewayId' | 'connectedAt' | 'disconnectedAt' | 'version' | 'protocol' | 'remoteAddress'>;

/**
 * Host agents' connections, one row each (`agent_connection`): opened when an agent joins this
 * gateway's link, closed when it leaves. Rows this gateway left open when it crashed are closed
 * at its next start (`closeStale`). Writes for one agent run in order.
 */
export class AgentConnectionService {
  private readonly rows: Repository<AgentConnectionEntity>;
  private readonly hosts: Repository<HostEntity>;
  /** This gateway's open row per agent. */
  private readonly open = new Map<string, string>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** New rows, for many agents connecting at once in one INSERT; each caller gets its row's id. */
  private readonly inserts = new BatchedStatement<NewConnection, string>(async (rows) => {
    const { identifiers } = await this.rows.insert(rows);
    const ids = new Map(rows.map((row, i) => [row, identifiers[i]!.id as string]));
    return (row) => ids.get(row)!;
  });
  /** Rows closed, for many agents leaving at once in one UPDATE. */
  private readonly closes = new BatchedStatement<string, void>(async (ids) => {
    await this.rows.update({ id: In(ids), disconnectedAt: IsNull() }, { disconnectedAt: new Date() });
    return () => undefined;
  });

  constructor(
    dataSource: DataSource,
    private readonly gatewayId: string,
    private readonly logger: Logger,
  ) {
    this.rows = dataSource.getRepository(AgentConnectionEntity);
    this.hosts = dataSource.getRepository(HostEntity);
  }

  /** Closes the rows a previous run of this gateway left open (it crashed or was killed); returns how many. */
  async closeStale(now = new Date()): Promise<number> {
    const result = await this.rows.update({ gatewayId: this.gatewayId, disconnectedAt: IsNull() }, { disconnectedAt: now });
    if (result.affected) this.logger.warn({ connections: result.affected }, 'closed the agent connections a previous run of this gateway left open');
    return result.affected ?? 0;
  }

  /** Closes every row of this gateway (it is stopping). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.queues.values()]);
    this.open.clear();
    await this.rows.update({ gatewayId: this.gatewayId, disconnectedAt: IsNull() }, { disconnectedAt: new Date() });
  }

  /** Records that `agentId` connected to this gateway. */
  opened(agentId: string, agent: ConnectingAgent): Promise<void> {
    return this.inOrder(agentId, async () => {
      await this.close(agentId);
      // One INSERT for the agents connecting meanwhile (no transaction around it): a thousand agents reconnecting at once write a few statements.
      this.open.set(agentId, await this.inserts.load({ agentId, gatewayId: this.gatewayId, connectedAt: new Date(), disconnectedAt: null, version: agent.version, protocol: agent.protocol, remoteAddress: agent.remoteAddress }));
    });
  }

  /** Records that `agentId` left this gateway. */
  closed(agentId: string): Promise<void> {
    return this.inOrder(agentId, () => this.close(agentId));
  }

  /** How the agents of `hosts` are connected (one query for the rows, one for the heartbeats). */
  async ofAgents(agentIds: readonly string[]): Promise<Map<string, AgentConnectionView>> {
    const ids = [...new Set(agentIds)];
    const views = new Map<string, AgentConnectionView>(ids.map((agentId) => [agentId, { agentId, state: AgentConnectionState.NEVER, version: null, protocol: null, connectedAt: null, lastHeartbeatAt: null }]));
    if (!ids.length) return views;
    const latest = (await this.rows.createQueryBuilder('c').distinctOn(['c.agentId']).where('c.agentId IN (:...ids)', { ids }).orderBy('c.agentId').addOrderBy('c.disconnectedAt IS NULL', 'DESC').addOrderBy('c.connectedAt', 'DESC').getMany());
    for (const row of latest) {
      views.set(row.agentId, { agentId: row.agentId, state: row.disconnectedAt ? AgentConnectionState.DISCONNECTED : AgentConnectionState.CONNECTED, version: row.version, protocol: row.protocol, connectedAt: row.connectedAt, lastHeartbeatAt: null });
    }
    const beats = (await this.hosts.createQueryBuilder('h').select('h.agent', 'agent').addSelect('MAX(h."lastHeartbeatAt")', 'last').where({ agent: In(ids) }).groupBy('h.agent').getRawMany()) as Array<{ agent: string; last: Date | string | null }>;
    for (const b of beats) {
      const view = views.get(b.agent);
      if (view && b.last) view.lastHeartbeatAt = new Date(b.last);
    }
    return views;
  }

  private async close(agentId: string): Promise<void> {
    const id = this.open.get(agentId);
    if (!id) return;
    this.open.delete(agentId);
    await this.closes.load(id);
  }

  private inOrder(agentId: string, work: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(agentId) ?? Promise.resolve())
      .then(work)
      .catch((e: unknown) => this.logger.warn({ err: e, agent: agentId }, 'could not record an agent connection'));
    this.queues.set(agentId, next);
    return next;
  }
}
