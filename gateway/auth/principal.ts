import type { MemberRole } from '../persistence/entities';

/** Who is calling: nobody, or the holder of a token. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'token'; tokenId: string; name: string; groupId: string | null; role: MemberRole; siteAdmin: boolean; /** When the token stops authenticating (none: never). */ expiresAt?: Date | null };

/** The caller with no credentials. */
export const ANONYMOUS: Principal = { kind: 'anonymous' };

/** The gateway acting for itself (bootstrap, background work): a site admin with no group. */
export const SYSTEM: Principal = { kind: 'token', tokenId: 'system', name: 'system', groupId: null, role: 'ADMIN' as MemberRole, siteAdmin: true };
