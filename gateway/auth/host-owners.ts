import type { DataSource, EntityManager } from 'typeorm';
import { isRspError, NotFoundError } from '../errors';
import { SiteEntity } from '../persistence/entities';
import { policy } from './policy';
import type { Principal } from './principal';

/** Who governs a host: the group owning it and the group owning its site. */
export interface HostOwnership {
  hostId: string;
  siteId: string;
  hostOwnerGroupId: string;
  siteOwnerGroupId: string;
}

/** The owner groups of a host (its own and its site's), deduplicated. */
export function ownerGroupsOf(o: Pick<HostOwnership, 'hostOwnerGroupId' | 'siteOwnerGroupId'>): string[] {
  return [...new Set([o.hostOwnerGroupId, o.siteOwnerGroupId])];
}

/**
 * Host and site owner roles: the ADMINs of the group that owns a host, or the site it stands on,
 * govern it — they see every environment on it (redacted), stop and evict them, decide approval
 * requests, grant and revoke shares, set usage policies and make join tokens for its agent. Site
 * admins govern every host. Reads ownership from the database; decisions are `policy`'s.
 */
export class HostOwners {
  constructor(private readonly dataSource: DataSource) {}

  /** Who owns the host; NOT_FOUND when there is no such host. */
  async ofHost(hostId: string, m: EntityManager = this.dataSource.manager): Promise<HostOwnership> {
    const rows: Array<{ siteId: string; hostOwner: string; siteOwner: string }> = await m.query(
      `SELECT h."siteId", h."ownerGroupId" AS "hostOwner", s."ownerGroupId" AS "siteOwner" FROM host h JOIN site s ON s.id = h."siteId" WHERE h.id = $1`,
      [hostId],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError('Host', hostId);
    return { hostId, siteId: row.siteId, hostOwnerGroupId: row.hostOwner, siteOwnerGroupId: row.siteOwner };
  }

  /** The group owning the site; NOT_FOUND when there is no such site. */
  async ofSite(siteId: string, m: EntityManager = this.dataSource.manager): Promise<string> {
    const site = await m.getRepository(SiteEntity).findOneBy({ id: siteId });
    if (!site) throw new NotFoundError('Site', siteId);
    return site.ownerGroupId;
  }

  /** True when the actor governs the host (site admin, or ADMIN of its owner or its site's owner). */
  async governsHost(actor: Principal, hostId: string): Promise<boolean> {
    if (actor.kind !== 'token') return false;
    if (actor.siteAdmin) return true;
    if (actor.role !== 'ADMIN' || !actor.groupId) return false;
    try {
      return policy.isOwnerAdmin(actor, ownerGroupsOf(await this.ofHost(hostId)));
    } catch (e) {
      if (isRspError(e) && e.category === 'NOT_FOUND') return false;
      throw e;
    }
  }

  /** The host's ownership when the actor governs it; FORBIDDEN otherwise (NOT_FOUND without such host). */
  async requireGovernsHost(actor: Principal, hostId: string, action: string, m?: EntityManager): Promise<HostOwnership> {
    policy.requireAuthenticated(actor);
    const owners = await this.ofHost(hostId, m);
    policy.requireOwnerAdmin(actor, ownerGroupsOf(owners), action);
    return owners;
  }

  /** Passes when the actor governs the site (site admin, or ADMIN of its owner group); FORBIDDEN otherwise. */
  async requireGovernsSite(actor: Principal, siteId: string, action: string): Promise<void> {
    policy.requireAuthenticated(actor);
    policy.requireOwnerAdmin(actor, [await this.ofSite(siteId)], action);
  }

  /** Ids of the hosts a group governs: the ones it owns and those on sites it owns. */
  async hostsGovernedBy(groupId: string): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `SELECT h.id FROM host h JOIN site s ON s.id = h."siteId" WHERE h."ownerGroupId" = $1 OR s."ownerGroupId" = $1`,
      [groupId],
    );
    return rows.map((r) => r.id);
  }

  /** Ids of the hosts the actor governs as an owner-group ADMIN; null for site admins (all of them). */
  async hostsGovernedByActor(actor: Principal): Promise<string[] | null> {
    if (actor.kind !== 'token') return [];
    if (actor.siteAdmin) return null;
    if (actor.role !== 'ADMIN' || !actor.groupId) return [];
    return this.hostsGovernedBy(actor.groupId);
  }
}
