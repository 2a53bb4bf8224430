import { Client, createClient } from 'graphql-ws';
import type { TypedDocumentString } from '../../../client/generated/graphql';
import { GraphQLRequestError, reportUnauthenticated } from './graphql';
import { storedToken, tokenProtocolEntry } from './session';

/** The state of the live connection, shown in the header ('idle': closed because no page needs it). */
export type LiveState = 'connecting' | 'connected' | 'idle' | 'closed';

/** graphql-ws closes with 4403 when the gateway refuses the token in the connection params. */
const FORBIDDEN_CLOSE = 4403;

/**
 * The browser's WebSocket with the stored token offered as a protocol entry beside
 * graphql-transport-ws: the gateway authenticates the socket at its upgrade, so it is never
 * refused among the sockets without a token during a flood of them.
 */
class TokenWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    const offered = protocols === undefined ? [] : ([] as string[]).concat(protocols);
    // A token that cannot go in a protocol entry goes in `connection_init` only.
    super(url, [...offered, ...tokenProtocolEntry()]);
  }
}

let client: Client | undefined;
const stateListeners = new Set<(state: LiveState) => void>();

function setState(state: LiveState): void {
  for (const listener of stateListeners) listener(state);
}

function liveClient(): Client {
  if (client) return client;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  client = createClient({
    url,
    webSocketImpl: TokenWebSocket,
    lazy: true,
    keepAlive: 15_000,
    retryAttempts: Infinity,
    connectionParams: () => {
      const token = storedToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    shouldRetry: (event) => (event as CloseEvent | undefined)?.code !== FORBIDDEN_CLOSE,
    on: {
      connecting: () => setState('connecting'),
      connected: () => setState('connected'),
      closed: (event) => {
        setState((event as CloseEvent | undefined)?.code === 1000 ? 'idle' : 'closed');
        if ((event as CloseEvent | undefined)?.code === FORBIDDEN_CLOSE) {
          reportUnauthenticated(new GraphQLRequestError('The gateway refused the token', 'UNAUTHENTICATED'));
        }
      },
    },
  });
  return client;
}

/** Follows the live connection's state; returns how to stop. */
export function onLiveState(listener: (state: LiveState) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

/**
 * Subscribes to a generated subscription over graphql-ws (one shared connection, opened on first
 * use, reconnecting) and calls `next` with each event's data; errors go to `error` with their
 * code. Returns how to stop.
 */
export function subscribe<T, V>(document: TypedDocumentString<T, V>, variables: V, next: (data: T) => void, error: (e: GraphQLRequestError) => void): () => void {
  return liveClient().subscribe<T>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        const first = result.errors?.[0];
        if (first) {
          const code = (first.extensions as { code?: string } | undefined)?.code ?? 'INTERNAL_SERVER_ERROR';
          error(new GraphQLRequestError(first.message, code));
          return;
        }
        if (result.data) next(result.data as T);
      },
      error: (e) => {
        if (e instanceof Error) error(new GraphQLRequestError(e.message, 'NETWORK'));
        else if (Array.isArray(e)) {
          const first = e[0] as { message?: string; extensions?: { code?: string } } | undefined;
          error(new GraphQLRequestError(first?.message ?? 'The subscription failed', first?.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
        }
        else error(new GraphQLRequestError(`The live connection closed (${(e as CloseEvent).code ?? '?'})`, 'NETWORK'));
      },
      complete: () => undefined,
    },
  );
}

/** Closes the live connection (at logout: the next one carries the next token). */
export async function closeLive(): Promise<void> {
  const old = client;
  client = undefined;
  await old?.dispose();
  setState('closed');
}
