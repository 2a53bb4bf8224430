import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import type { Unlisten } from '../events/pubsub';

/** The graphql-ws close code of a connection whose credentials no longer hold (graphql-ws's Forbidden). */
export const CREDENTIALS_CLOSE_CODE = 4403;

/** Longest delay `setTimeout` takes; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Revoked token ids remembered, so a connection authenticated just before its token's revocation is closed too. */
const MAX_REMEMBERED_REVOCATIONS = 10_000;

/** A token's open sockets and the timer of its expiry. */
interface TokenSockets {
  sockets: Set<WebSocket>;
  timer?: NodeJS.Timeout;
}

/**
 * The graphql-ws connections of each token: when the token is revoked (on any replica: the
 * revocation comes over the event bus) or reaches its `expiresAt`, its connections are closed with
 * 4403 and a reason, ending every subscription they carry — streams follow the credentials, as
 * HTTP requests do.
 */
export class CredentialSockets {
  private readonly byToken = new Map<string, TokenSockets>();
  private readonly revoked = new Set<string>();
  private readonly unlisten: Unlisten;

  /** `onRevoked` subscribes to revocations (TokenService.onRevoked). */
  constructor(onRevoked: (listener: (tokenId: string) => void) => Unlisten) {
    this.unlisten = onRevoked((id) => this.revoke(id));
  }

  /** Follows a connection authenticated as `actor` (anonymous connections have nothing to lose). */
  track(socket: WebSocket, actor: Principal): void {
    if (actor.kind !== 'token') return;
    const id = actor.tokenId;
    if (this.revoked.has(id)) return closeForCredentials(socket, 'the token was revoked');
    if (actor.expiresAt && actor.expiresAt.getTime() <= Date.now()) return closeForCredentials(socket, 'the token expired');
    let entry = this.byToken.get(id);
    if (!entry) {
      this.byToken.set(id, (entry = { sockets: new Set() }));
      if (actor.expiresAt) this.armExpiry(id, entry, actor.expiresAt.getTime());
    }
    entry.sockets.add(socket);
    socket.once('close', () => this.untrack(id, socket));
  }

  /** Open connections of a token (for tests and metrics). */
  count(tokenId: string): number {
    return this.byToken.get(tokenId)?.sockets.size ?? 0;
  }

  /** Stops following revocations and expiries (the connections themselves are closed by the server). */
  close(): void {
    this.unlisten();
    for (const entry of this.byToken.values()) clearTimeout(entry.timer);
    this.byToken.clear();
  }

  private revoke(id: string): void {
    if (this.revoked.size >= MAX_REMEMBERED_REVOCATIONS) this.revoked.clear();
    this.revoked.add(id);
    this.end(id, 'the token was revoked');
  }

  private armExpiry(id: string, entry: TokenSockets, at: number): void {
    const wait = at - Date.now();
    entry.timer = setTimeout(() => (Date.now() >= at ? this.end(id, 'the token expired') : this.armExpiry(id, entry, at)), Math.min(Math.max(wait, 0), MAX_TIMER_MS));
    entry.timer.unref();
  }

  private end(id: string, reason: string): void {
    const entry = this.byToken.get(id);
    if (!entry) return;
    this.byToken.delete(id);
    clearTimeout(entry.timer);
    for (const socket of entry.sockets) closeForCredentials(socket, reason);
  }

  private untrack(id: string, socket: WebSocket): void {
    const entry = this.byToken.get(id);
    if (!entry) return;
    entry.sockets.delete(socket);
    if (entry.sockets.size) return;
    clearTimeout(entry.timer);
    this.byToken.delete(id);
  }
}

/** What a connection refused for its token at `connection_init` is told (graphql-ws alone says only "Forbidden"). */
export const TOKEN_REFUSED_REASON = 'the token does not authenticate (unknown, revoked or expired): log in again or make a new token';

/** Closes a connection with 4403 and why ("Forbidden: <reason>"). */
export function closeForCredentials(socket: WebSocket, reason: string): void {
  if (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN) socket.close(CREDENTIALS_CLOSE_CODE, `Forbidden: ${reason}`);
}
