import type { DataSource } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { AntiAffinity, type EnvironmentEntity, HostEntity, HostState } from '../persistence/entities';
import { limitWants, refusal } from './implicit';
import { FILTERS, usagePolicyFilter } from './filters';
import { evaluateHosts } from './scheduler';
import { loadHostViews } from './snapshot';

/** Why a host cannot take an environment that moves (failover, migration), or null. */
type Refusal = string | null;

/**
 * Where an environment that leaves its host goes (failover, migration): the host asked for, after
 * checking it, or the scheduler's best. Eligible: UP (the scheduler's state filter), another
 * host agent than the source's (two hosts of one agent share its engine: moving there would not
 * survive the loss of the source), the environment's technology and the same driver usable on
 * the agent, and room for its limits in the group's share and the host's capacity (the claim made
 * when it moves there checks the same again, in its transaction), and a group over a REFUSE usage
 * policy of its site — unless the environment `keepsWork` (failover restarts work that exists).
 */
export async function chooseTargetHost(dataSource: DataSource, agents: AgentLink, env: EnvironmentEntity, source: HostEntity, asked?: string, options: { keepsWork?: boolean } = {}): Promise<HostEntity> {
  const hosts = dataSource.getRepository(HostEntity);
  if (asked) {
    const host = await hosts.findOneBy({ id: asked });
    if (!host) throw new NotFoundError('Host', asked);
    if (host.id === source.id) throw new BadInputError(`Environment ${env.name} already is on host ${host.hostname}`, { hostId: host.id });
  }
  const views = await loadHostViews(dataSource, asked ? [asked] : undefined);
  const wants = limitWants(env.limits);
  const askedView = asked ? views.get(asked) : undefined;
  // A host asked for that the group may not use, or that is short, is refused with placement's own error (FORBIDDEN / CONFLICT).
  const refusedAsked = askedView ? await refusal(dataSource, askedView, env.groupId, wants, options) : null;
  if (refusedAsked) throw refusedAsked;
  const ask = { spec: { resources: [], technologies: [env.technology], requiredProperties: [], antiAffinity: AntiAffinity.NONE, replicas: 1, hostIds: [] }, groupId: env.groupId, guaranteed: false };
  const { candidates, rejections } = evaluateHosts(views.values(), ask, undefined, options.keepsWork ? FILTERS.filter((f) => f !== usagePolicyFilter) : FILTERS);
  const reasons = rejections.map((r) => `${r.host.hostname}: ${r.reason}`);
  for (const candidate of candidates) {
    if (candidate.host.id === source.id) continue;
    const host = await hosts.findOneByOrFail({ id: candidate.host.id });
    const refused = (await refusalOf(agents, env, source, host)) ?? (await refusal(dataSource, candidate.host, env.groupId, wants, options))?.message ?? null;
    if (!refused) return host;
    reasons.push(`${host.hostname}: ${refused}`);
  }
  const what = asked ? `Host ${asked} cannot take environment ${env.name}` : `No host can take environment ${env.name}`;
  throw new ConflictError(`${what}: ${reasons.join('; ') || 'no other host'}`, { environmentId: env.id, reasons });
}

async function refusalOf(agents: AgentLink, env: EnvironmentEntity, source: HostEntity, host: HostEntity): Promise<Refusal> {
  if (host.state !== HostState.UP) return `host is ${host.state}, not UP`;
  if (host.agent === source.agent) return `served by agent "${host.agent}" like the source host (same engine)`;
  // Connected: at once; arriving (just moved between gateway replicas): once announced; gone: refused at once.
  const agent = await agents.soon(host.agent);
  if (!agent) return `no host agent "${host.agent}" is connected`;
  const driver = (await agent.drivers()).find((d) => d.name === env.driver);
  if (!driver?.available) return `driver ${env.driver} is not usable there${driver?.reason ? ` (${driver.reason})` : ''}`;
  return null;
}
