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
