/** The token the dashboard acts with, kept in this browser's localStorage until logout. */

const TOKEN_KEY = 'rsp.token';

/** Who the token says the caller is (the `viewer` query). */
export interface Viewer {
  authenticated: boolean;
  tokenId: string | null;
  name: string | null;
  groupId: string | null;
  role: 'VIEWER' | 'MEMBER' | 'ADMIN' | null;
  siteAdmin: boolean;
}

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
