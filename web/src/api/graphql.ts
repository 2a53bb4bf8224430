import type { TypedDocumentString } from '../../../client/generated/graphql';
import { storedToken } from './session';

/** A GraphQL error (or a failed request) with the code the gateway gave it. */
export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    /** UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, BAD_USER_INPUT… or NETWORK. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'GraphQLRequestError';
  }
}

type Listener = (error: GraphQLRequestError) => void;
const unauthenticatedListeners = new Set<Listener>();

/** Calls `listener` whenever the gateway refuses the token (it was revoked or expired). */
export function onUnauthenticated(listener: Listener): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

/** Reports a refused token to the listeners (the session ends). */
export function reportUnauthenticated(error: GraphQLRequestError): void {
  for (const listener of unauthenticatedListeners) listener(error);
}

/**
 * Runs a generated query or mutation over HTTP with the stored token (or `token` when given) and
 * returns its data; the first GraphQL error is thrown as a GraphQLRequestError with its code.
 */
export async function request<T, V>(document: TypedDocumentString<T, V>, variables: V, token = storedToken()): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  } catch (e) {
    throw new GraphQLRequestError(`The gateway cannot be reached (${(e as Error).message})`, 'NETWORK');
  }
  let body: { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  try {
    body = await res.json();
  } catch {
    throw new GraphQLRequestError(`The gateway answered HTTP ${res.status} without a GraphQL result`, 'NETWORK');
  }
  const first = body.errors?.[0];
  if (first) {
    const error = new GraphQLRequestError(first.message, first.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    if (error.code === 'UNAUTHENTICATED') reportUnauthenticated(error);
    throw error;
  }
  if (!body.data) throw new GraphQLRequestError(`The gateway answered HTTP ${res.status} without data`, 'NETWORK');
  return body.data;
}
