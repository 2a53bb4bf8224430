import { ForbiddenError, UnauthenticatedError } from '../errors';
import { ImageEntity, ImageVisibility, MemberRole, ROLE_RANK } from '../persistence/entities';
import type { Principal } from './principal';

type TokenPrincipal = Extract<Principal, { kind: 'token' }>;

/**
 * Authorization in one place. Services ask it before every read of private data and every write:
 * - every read needs a token; a group's private fields need membership;
 * - writes in a group need a role in that group (viewer < member < admin);
 * - site admins manage sites, hosts, resources, shares and may act in any group;
 * - the admins of the group that owns a host or site govern it (see `host-owners.ts`).
 */
export const policy = {
  /** Any valid token. */
  requireAuthenticated(actor: Principal): TokenPrincipal {
    if (actor.kind !== 'token') throw new UnauthenticatedError();
    return actor;
  },

  /** A site-admin token. */
  requireSiteAdmin(actor: Principal, action: string): TokenPrincipal {
    const p = policy.requireAuthenticated(actor);
    if (!p.siteAdmin) throw new ForbiddenError(`Only site admins may ${action}`, { action });
    return p;
  },

  /** At least `role` in `groupId` (site admins always pass). */
  requireRole(actor: Principal, groupId: string, role: MemberRole, action: string): TokenPrincipal {
    const p = policy.requireAuthenticated(actor);
    if (p.siteAdmin) return p;
    if (p.groupId !== groupId) throw new ForbiddenError(`You may not ${action}: it belongs to another group`, { action, groupId });
    if (ROLE_RANK[p.role] < ROLE_RANK[role]) throw new ForbiddenError(`You may not ${action}: it needs the ${role} role, your token has ${p.role}`, { action, needed: role, have: p.role });
    return p;
  },

  /**
   * At least `role` in some group (site admins always pass): checked before looking up an object by
   * id, so a caller who could act on no such object learns nothing of which ids exist.
   */
  requireSomeRole(actor: Principal, role: MemberRole, action: string): TokenPrincipal {
    const p = policy.requireAuthenticated(actor);
    if (p.siteAdmin) return p;
    if (!p.groupId || ROLE_RANK[p.role] < ROLE_RANK[role]) throw new ForbiddenError(`You may not ${action}: it needs the ${role} role in a group, your token has ${p.role}`, { action, needed: role, have: p.role });
    return p;
  },

  /** True when the actor is a site admin or an ADMIN of one of `ownerGroupIds` (the groups owning a host or site). */
  isOwnerAdmin(actor: Principal, ownerGroupIds: readonly string[]): boolean {
    if (actor.kind !== 'token') return false;
    if (actor.siteAdmin) return true;
    return actor.groupId !== null && actor.role === MemberRole.ADMIN && ownerGroupIds.includes(actor.groupId);
  },

  /** A site admin or an ADMIN of one of `ownerGroupIds`; FORBIDDEN otherwise, naming only the action. */
  requireOwnerAdmin(actor: Principal, ownerGroupIds: readonly string[], action: string): TokenPrincipal {
    const p = policy.requireAuthenticated(actor);
    if (!policy.isOwnerAdmin(p, ownerGroupIds)) throw new ForbiddenError(`Only the admins of the group that owns it (or site admins) may ${action}`, { action });
    return p;
  },

  /** True when the actor may see `groupId`'s private data. */
  isMember(actor: Principal, groupId: string): boolean {
    return actor.kind === 'token' && (actor.siteAdmin || actor.groupId === groupId);
  },

  /** True when the actor may see and use the image. */
  canUseImage(actor: Principal, image: Pick<ImageEntity, 'vendorGroupId' | 'visibility' | 'sharedWith'>): boolean {
    if (actor.kind !== 'token') return false;
    if (image.visibility === ImageVisibility.PUBLIC || policy.isMember(actor, image.vendorGroupId)) return true;
    return image.visibility === ImageVisibility.SHARED && actor.groupId !== null && image.sharedWith.includes(actor.groupId);
  },
};
