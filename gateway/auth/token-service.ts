import { createHash, randomBytes } from 'node:crypto';
import { DataSource, IsNull, MoreThan, Repository } from 'typeorm';
import { BadInputError, ConflictError, NotFoundError, UnauthenticatedError } from '../errors';
import { requireGroupRoom } from '../limits/group-records';
import { rowsOf } from '../placement/claims';
import { RspPubSub, Topic, Unlisten } from '../events/pubsub';
import { ApiTokenEntity, GroupEntity, MemberRole } from '../persistence/entities';
import { EntityStatements } from '../persistence/entity-statements';
import { UUID_PATTERN } from '../persistence/time-ordered-id';
import { policy } from './policy';
import { ANONYMOUS, Principal } from './principal';

/** A token as created: the secret is in here once and never again. */
export interface IssuedToken {
  token: ApiTokenEntity;
  secret: string;
}

/** Prefix of every RSP token secret, so leaked tokens are recognisable by scanners. */
export const TOKEN_PREFIX = 'rsp_';

/** sha256 (hex) of a secret: what is stored. The secret has 256 bits of entropy, so a fast hash is enough. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * How long a gateway trusts a token it has just looked up without reading it again. A revocation
 * is published (TOKEN_REVOKED), so every replica sharing the PubSub forgets the token at once; a
 * replica that misses the message still stops accepting it within this time.
 */
export const TOKEN_CACHE_MS = 2_000;

/** Most tokens remembered at once (the memory stays bounded whatever secrets are tried). */
const MAX_CACHED_TOKENS = 10_000;

/** How precise `lastUsedAt` is: a token's use is written at most this often (per gateway). */
export const LAST_USED_RESOLUTION_MS = 10_000;

/** Issues, checks and revokes API tokens. Secrets are random, shown once, stored hashed. */
export class TokenService {
  private readonly repo: Repository<ApiTokenEntity>;
  /** The lookup by secret hash, written out once (a request whose token left the cache waits on it). */
  private readonly tokenRows: EntityStatements<ApiTokenEntity>;
  /** When this gateway last wrote each token's `lastUsedAt` (epoch ms). */
  private readonly lastWritten = new Map<string, number>();
  /** Tokens looked up recently, by secret hash, with when. */
  private readonly recent = new Map<string, { token: ApiTokenEntity; at: number }>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly pubSub?: RspPubSub,
  ) {
    this.repo = dataSource.getRepository(ApiTokenEntity);
    this.tokenRows = new EntityStatements(dataSource, ApiTokenEntity);
    pubSub?.listen(Topic.TOKEN_REVOKED, undefined, (id) => this.forget(id));
  }

  /** The principal a bearer secret stands for; anonymous when absent; UNAUTHENTICATED-worthy when unknown. */
  async authenticate(secret: string | undefined): Promise<Principal | null> {
    if (!secret) return ANONYMOUS;
    if (!secret.startsWith(TOKEN_PREFIX)) return null;
    const hash = hashSecret(secret);
    const now = Date.now();
    const cached = this.recent.get(hash);
    let token: ApiTokenEntity | null;
    if (cached && now - cached.at < TOKEN_CACHE_MS) token = cached.token;
    else {
      [token = null] = await this.tokenRows.where('t."secretHash" = $1', [hash]);
      if (this.recent.size >= MAX_CACHED_TOKENS) this.recent.clear();
      if (token) this.recent.set(hash, { token, at: now });
    }
    if (!token || token.revokedAt || (token.expiresAt && token.expiresAt.getTime() <= Date.now())) return null;
    this.touch(token.id);
    return { kind: 'token', tokenId: token.id, name: token.name, groupId: token.groupId, role: token.role, siteAdmin: token.siteAdmin, expiresAt: token.expiresAt };
  }

  /**
   * Records that a token was used, at most once per LAST_USED_RESOLUTION_MS per token: a busy
   * client would otherwise make every request also write (and queue on) the same row.
   */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.lastWritten.get(id) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastWritten.set(id, now);
    void this.repo.update({ id }, { lastUsedAt: new Date(now) }).catch(() => undefined);
  }

  /** Creates the first site-admin token when there is none; returns it (with its secret) or null. */
  async bootstrapSiteAdmin(): Promise<IssuedToken | null> {
    return this.dataSource.transaction(async (m) => {
      await m.query('LOCK TABLE "api_token" IN EXCLUSIVE MODE');
      const existing = await m.getRepository(ApiTokenEntity).countBy({ siteAdmin: true, revokedAt: IsNull() });
      if (existing > 0) return null;
      return this.insert(m.getRepository(ApiTokenEntity), { groupId: null, name: 'site-admin', role: MemberRole.ADMIN, siteAdmin: true, expiresAt: null, madeByTokenId: null });
    });
  }

  /**
   * Issues a token for a group (group admins; at most `GROUP_RECORD_LIMITS.liveTokens` live ones per
   * group) or a site-admin token (site admins only). The token is its maker's: it never outlives it
   * (its `expiresAt` is at most the maker's) and revoking the maker revokes it (see `revoke`).
   */
  async create(actor: Principal, input: { groupId?: string | null; name: string; role: MemberRole; siteAdmin?: boolean; expiresAt?: Date | null }): Promise<IssuedToken> {
    const maker = input.siteAdmin ? policy.requireSiteAdmin(actor, 'create site-admin tokens') : policy.requireAuthenticated(actor);
    if (!input.siteAdmin) {
      if (!input.groupId) throw new BadInputError('A token needs a groupId (or siteAdmin: true)');
      policy.requireRole(actor, input.groupId, MemberRole.ADMIN, 'create tokens for this group');
    }
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) throw new BadInputError('expiresAt must be in the future', { expiresAt: input.expiresAt.toISOString() });
    const makerExpiry = maker.expiresAt ?? null;
    const expiresAt = makerExpiry && (!input.expiresAt || input.expiresAt > makerExpiry) ? makerExpiry : (input.expiresAt ?? null);
    // The gateway acting for itself (SYSTEM) is nobody's token.
    const madeByTokenId = UUID_PATTERN.test(maker.tokenId) ? maker.tokenId : null;
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ApiTokenEntity);
      // The maker is read under a share lock: a revocation (which locks it for update first) either
      // came before, and nothing is made, or waits for this token, and then revokes it too.
      if (madeByTokenId) {
        const [live] = (await m.query(`SELECT 1 FROM api_token WHERE id = $1 AND "revokedAt" IS NULL FOR SHARE`, [madeByTokenId])) as unknown[];
        if (!live) throw new UnauthenticatedError();
      }
      if (input.groupId && !input.siteAdmin) {
        if (!(await m.getRepository(GroupEntity).existsBy({ id: input.groupId }))) throw new NotFoundError('Group', input.groupId);
        const live = { groupId: input.groupId, revokedAt: IsNull() };
        await requireGroupRoom(repo, [{ ...live, expiresAt: IsNull() }, { ...live, expiresAt: MoreThan(new Date()) }], input.groupId, 'liveTokens');
      }
      return this.insert(repo, { groupId: input.groupId ?? null, name: input.name, role: input.role, siteAdmin: input.siteAdmin ?? false, expiresAt, madeByTokenId });
    });
  }

  /**
   * Revokes a token (group admins for their group's, site admins for any), and with it every live
   * token made through it, transitively: a token someone made before losing theirs does not keep
   * their rights. With `keepMade` (site admins only, to rotate a site-admin token) the tokens it
   * made stay, no longer anyone's. CONFLICT if already revoked.
   */
  async revoke(actor: Principal, id: string, options: { keepMade?: boolean } = {}): Promise<ApiTokenEntity> {
    if (options.keepMade) policy.requireSiteAdmin(actor, 'revoke a token keeping the tokens it made');
    const p = policy.requireSomeRole(actor, MemberRole.ADMIN, 'revoke tokens');
    const token = await this.repo.findOneBy({ id });
    // another group's token is as unknown as a missing one
    if (!token || (!p.siteAdmin && token.groupId !== p.groupId)) throw new NotFoundError('Token', id);
    if (token.groupId && !token.siteAdmin) policy.requireRole(actor, token.groupId, MemberRole.ADMIN, 'revoke this token');
    else policy.requireSiteAdmin(actor, 'revoke site-admin tokens');
    if (token.revokedAt) throw new ConflictError(`Token ${id} is already revoked`, { id });
    const revokedAt = new Date();
    const ids = await this.dataSource.transaction(async (m) => {
      // Locked first: a token being made through it now (see `create`) is committed before the tree is read.
      const [still] = (await m.query(`SELECT 1 FROM api_token WHERE id = $1 AND "revokedAt" IS NULL FOR UPDATE`, [id])) as unknown[];
      if (!still) throw new ConflictError(`Token ${id} is already revoked`, { id });
      if (options.keepMade) {
        await m.query(`UPDATE api_token SET "madeByTokenId" = NULL WHERE "madeByTokenId" = $1`, [id]);
        await m.query(`UPDATE api_token SET "revokedAt" = $2 WHERE id = $1`, [id, revokedAt]);
        return [id];
      }
      const made = await m.query(
        `WITH RECURSIVE made(id) AS (SELECT $1::uuid UNION SELECT t.id FROM api_token t JOIN made ON t."madeByTokenId" = made.id)
         UPDATE api_token SET "revokedAt" = $2 WHERE id IN (SELECT id FROM made) AND "revokedAt" IS NULL RETURNING id`,
        [id, revokedAt],
      );
      return rowsOf<{ id: string }>(made).map((r) => r.id);
    });
    this.removed(ids);
    return { ...token, revokedAt };
  }

  /**
   * Tells every replica that tokens were removed by other means than `revoke` (with their group):
   * they stop authenticating at once, and what they hold open (subscriptions) is closed.
   */
  removed(ids: readonly string[]): void {
    for (const id of ids) {
      this.forget(id);
      this.pubSub?.publish(Topic.TOKEN_REVOKED, id);
    }
  }

  /** Calls `listener` with the id of each token revoked or removed, on any replica sharing the bus. */
  onRevoked(listener: (tokenId: string) => void): Unlisten {
    return this.pubSub ? this.pubSub.listen(Topic.TOKEN_REVOKED, undefined, listener) : () => undefined;
  }

  /** Drops a token from the lookup cache. */
  private forget(id: string): void {
    for (const [hash, entry] of this.recent) if (entry.token.id === id) this.recent.delete(hash);
  }

  /** Tokens of a group (admins of the group), newest first, without secrets. */
  async listForGroup(actor: Principal, groupId: string): Promise<ApiTokenEntity[]> {
    policy.requireRole(actor, groupId, MemberRole.ADMIN, "list this group's tokens");
    return this.repo.find({ where: { groupId }, order: { createdAt: 'DESC' } });
  }

  private async insert(repo: Repository<ApiTokenEntity>, fields: Pick<ApiTokenEntity, 'groupId' | 'name' | 'role' | 'siteAdmin' | 'expiresAt' | 'madeByTokenId'>): Promise<IssuedToken> {
    const secret = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const token = await repo.save(repo.create({ ...fields, secretHash: hashSecret(secret), prefix: secret.slice(0, 12) }));
    return { token, secret };
  }
}
