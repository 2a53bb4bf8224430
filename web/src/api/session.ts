/** The token the dashboard acts with, kept in this browser's localStorage until logout. */
import type { ViewerQuery } from '../../../client/generated/graphql';

const TOKEN_KEY = 'rsp.token';

/** Who the token says the caller is (the `viewer` query). */
export type Viewer = ViewerQuery['viewer'];

/** The stored token, or null when logged out. */
export function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Keeps the token for later visits. */
export function storeToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the token. */
export function forgetToken(): void {
  localStorage.removeItem(TOKEN_KEY);
}

/** The `Sec-WebSocket-Protocol` entry prefix that carries the token at an upgrade (a browser cannot set `Authorization` on a WebSocket). */
const TOKEN_PROTOCOL_PREFIX = 'rsp.bearer.';
/** A protocol entry holds only token characters (RFC 7230). */
const PROTOCOL_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** The protocol entry offering the stored token at a WebSocket upgrade, or none when there is no token or it cannot go there. */
export function tokenProtocolEntry(): string[] {
  const token = storedToken();
  return token && PROTOCOL_TOKEN.test(token) ? [`${TOKEN_PROTOCOL_PREFIX}${token}`] : [];
}
