import { randomBytes } from 'node:crypto';
import { AGENT_CREDENTIAL_PREFIX, isAgentCredentialForm, newAgentCredential } from '../agent/remote/handshake';
import { DataSource, In, IsNull, Repository } from 'typeorm';
import { BadInputError, ForbiddenError, UnauthenticatedError } from '../errors';
import { Topic, type RspPubSub } from '../events/pubsub';
import { BatchedStatement } from '../persistence/batched-statement';
import { AgentCredentialEntity, AgentSecretKind, HostEntity } from '../persistence/entities';
import { HostOwners, ownerGroupsOf } from './host-owners';
import { policy } from './policy';
import type { Principal } from './principal';
import { hashSecret } from './token-service';

/** Prefix of a join token: not `rsp_`, so no API token check ever accepts one. */
export const JOIN_TOKEN_PREFIX = 'rspj_';
export { AGENT_CREDENTIAL_PREFIX } from '../agent/remote/handshake';

/** Longest a join token may live: a week. */
const MAX_JOIN_TTL_SECONDS = 7 * 24 * 3600;

/** A join token as created: the secret is in here once. */
export interface IssuedJoinToken {
  agentId: string;
  token: string;
  expiresAt: Date;
}

/** Who a connecting agent is, and its new credential when it just enrolled. */
export interface AgentIdentity {
  agentId: string;
  /** Set when a join token was exchanged: the credential the agent keeps from now on. */
  credential?: string;
}

/** Agent ids: what a host's `agent` field names. */
const AGENT_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/i;

/**
 * Host agents' secrets: one-time, expiring join tokens a site admin creates for an agent id, and
 * the long-lived credential each is exchanged for at the agent's first connection. Only hashes
 * are stored; each secret is bound to its agent id. A revocation is published (AGENT_REVOKED), so
 * whichever gateway replica holds the agent's connection drops it.
 */
export class AgentCredentialService {
  private readonly repo: Repository<AgentCredentialEntity>;
  private readonly revokeListeners: Array<(agentId: string) => void> = [];
  private readonly owners: HostOwners;
  /** Credentials by hash, read for many connecting agents in one statement. */
  private readonly credentialRows = new BatchedStatement<string, AgentCredentialEntity | undefined>(async (hashes) => {
    const rows = await this.repo.findBy({ secretHash: In([...new Set(hashes)]), kind: AgentSecretKind.CREDENTIAL });
    const byHash = new Map(rows.map((r) => [r.secretHash, r]));
    return (hash) => byHash.get(hash);
  });

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubSub?: RspPubSub,
  ) {
    this.repo = dataSource.getRepository(AgentCredentialEntity);
    this.owners = new HostOwners(dataSource);
    pubSub?.listen(Topic.AGENT_REVOKED, undefined, (agentId) => this.revoked(agentId));
  }

  /**
   * Creates a join token for `agentId`, valid `ttlSeconds` (one hour by default). Site admins for
   * any agent; with `hostId`, the admins governing that host for its agent, when that agent serves
   * only hosts they govern (never the gateway's own `local` agent).
   */
  async createJoinToken(actor: Principal, agentId: string, ttlSeconds = 3600, hostId?: string): Promise<IssuedJoinToken> {
    await this.requireAgentGoverned(actor, agentId, hostId, 'create agent join tokens');
    if (!AGENT_ID.test(agentId)) throw new BadInputError('An agent id is 1 to 100 letters, digits, dots, dashes or underscores', { agentId });
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_JOIN_TTL_SECONDS) throw new BadInputError(`A join token lives 1 to ${MAX_JOIN_TTL_SECONDS} seconds`, { ttlSeconds });
    const token = JOIN_TOKEN_PREFIX + randomBytes(32).toString('hex');
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    await this.repo.insert({ agentId, kind: AgentSecretKind.JOIN, secretHash: hashSecret(token), expiresAt });
    return { agentId, token, expiresAt };
  }

  /**
   * Revokes an agent's credentials (and unused join tokens); its live connection is closed.
   * Resolves to how many were revoked. Who may: as for `createJoinToken`.
   */
  async revokeCredential(actor: Principal, agentId: string, hostId?: string): Promise<number> {
    await this.requireAgentGoverned(actor, agentId, hostId, 'revoke agent credentials');
    const { affected } = await this.repo.update({ agentId, revokedAt: IsNull(), usedAt: IsNull() }, { revokedAt: new Date() });
    if (this.pubSub) this.pubSub.publish(Topic.AGENT_REVOKED, agentId);
    else this.revoked(agentId);
    return affected ?? 0;
  }

  /** Site admins pass; with `hostId`, the admins governing it when its agent is `agentId` and serves only hosts they govern. */
  private async requireAgentGoverned(actor: Principal, agentId: string, hostId: string | undefined, action: string): Promise<void> {
    const p = policy.requireAuthenticated(actor);
    if (p.siteAdmin) return;
    if (!hostId) throw new ForbiddenError(`Only site admins may ${action} without naming a host of yours (hostId)`, { action });
    await this.owners.requireGovernsHost(p, hostId, action);
    const served = await this.dataSource.getRepository(HostEntity).findBy({ agent: agentId });
    if (agentId === 'local' || !served.some((h) => h.id === hostId)) throw new ForbiddenError(`You may ${action} only for the agent of your host`, { action });
    for (const host of served) policy.requireOwnerAdmin(p, ownerGroupsOf(await this.owners.ofHost(host.id)), `${action}: the agent serves hosts you do not govern`);
  }

  /** Calls `listener` with the agent id whenever its credentials are revoked (on any replica sharing the bus). */
  onRevoked(listener: (agentId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  private revoked(agentId: string): void {
    for (const listener of this.revokeListeners) listener(agentId);
  }

  /**
   * Who presents `secret`: a valid credential names its agent; a valid, unused join token is
   * spent (once, atomically) and exchanged for a new credential (`chosen`, the one the agent chose,
   * or a new one), which replaces the agent's older ones. A spent join token shown again with the
   * credential it was exchanged for (still valid) answers the same: the agent never got its welcome.
   * UNAUTHENTICATED for anything else, or when `claimedId` is not the secret's agent.
   */
  async authenticate(secret: string, claimedId?: string, chosen?: string): Promise<AgentIdentity> {
    const refused = (reason: string) => new UnauthenticatedError(`Agent refused: ${reason}`, { agent: claimedId ?? null });
    if (secret.startsWith(AGENT_CREDENTIAL_PREFIX)) {
      const row = await this.credentialRows.load(hashSecret(secret));
      if (!row) throw refused('unknown agent credential');
      if (row.revokedAt) throw refused('the agent credential is revoked');
      if (claimedId && claimedId !== row.agentId) throw refused(`the credential is not agent "${claimedId}"'s`);
      return { agentId: row.agentId };
    }
    if (!secret.startsWith(JOIN_TOKEN_PREFIX)) throw refused('not a join token nor an agent credential');
    if (chosen !== undefined && !isAgentCredentialForm(chosen)) throw refused(`the credential an enrolling agent chooses is ${AGENT_CREDENTIAL_PREFIX} and 64 hex digits`);
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(AgentCredentialEntity);
      const row = await repo.findOne({ where: { secretHash: hashSecret(secret), kind: AgentSecretKind.JOIN }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw refused('unknown join token');
      if (claimedId && claimedId !== row.agentId) throw refused(`the join token is not agent "${claimedId}"'s`);
      if (row.usedAt) {
        const retried = chosen && (await repo.existsBy({ agentId: row.agentId, kind: AgentSecretKind.CREDENTIAL, secretHash: hashSecret(chosen), revokedAt: IsNull() }));
        if (retried) return { agentId: row.agentId, credential: chosen };
        throw refused('the join token was used already');
      }
      if (row.revokedAt) throw refused('the join token is revoked');
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw refused('the join token has expired');
      const now = new Date();
      await repo.update({ id: row.id }, { usedAt: now });
      await repo.update({ agentId: row.agentId, kind: AgentSecretKind.CREDENTIAL, revokedAt: IsNull() }, { revokedAt: now });
      const credential = chosen ?? newAgentCredential();
      await repo.insert({ agentId: row.agentId, kind: AgentSecretKind.CREDENTIAL, secretHash: hashSecret(credential) });
      return { agentId: row.agentId, credential };
    });
  }
}
