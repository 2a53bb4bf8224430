import { createClient, Client as WsClient } from 'graphql-ws';
import pino, { type Logger } from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../gateway/config/config';
import { databaseTarget } from '../../gateway/persistence/data-source';
import { Gateway, startGateway } from '../../gateway/server/gateway';
import { seedMigratedPglite, TestDatabase } from './databases';

/** The JSON a GraphQL server answers. */
export interface GraphQLResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: { code?: string; details?: any } }>;
}

/** A gateway started for a test, with a client for it. */
export interface TestGateway {
  gateway: Gateway;
  /** The bootstrap site-admin token's secret. */
  adminToken: string;
  /** POSTs a query as `token` (default: the site admin; `null`: anonymous); returns the body and HTTP status. */
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GraphQLResponse<T> & { status: number }>;
  /** Uploads an image's bits through `PUT /images/:id/content`; returns the HTTP status and body. */
  upload(imageId: string, bits: Buffer, token?: string | null): Promise<{ status: number; body: any }>;
  /** Like `gql` but fails the test on any error, returning `data`. */
  ok<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<T>;
  /** A graphql-ws client on the gateway (closed with the gateway). */
  ws(connectionParams?: Record<string, unknown>): WsClient;
  close(): Promise<void>;
}

/**
 * Starts a gateway on a free port over `db`, quiet unless LOG_LEVEL is set, without the first-start
 * set-up (`RSP_BOOTSTRAP: 'on'` in `env` turns it on). A PGlite database not made yet starts as a
 * copy of the run's migrated template (`seedMigratedPglite`); migrating from scratch is the
 * persistence and CLI migration tests' part. `env` may add host
 * agents (`RSP_AGENTS: 'a,b'`, each with its own data directory and driver instances);
 * `gateway.agents.disconnect(id)` / `reconnect(id)` then simulate losing a host and getting it back.
 * `options.logger`: the gateway's logger (to read its lines), instead of a quiet one.
 */
export async function startTestGateway(db: TestDatabase, env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<TestGateway> {
  const config = loadConfig({
    PORT: '0',
    RSP_DATA_DIR: db.dataDir,
    RSP_SITE_NAME: 'test-site',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    LOG_FORMAT: 'json',
    RSP_DRIVERS: 'fake',
    // The scenario's host1 (test/helpers/scenario.ts) stands for this machine.
    RSP_LOCAL_HOST: 'zaphod',
    // Tests build the state they need from an empty database; the first-start set-up has its own tests.
    RSP_BOOTSTRAP: 'off',
    ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
    ...env,
  });
  const target = databaseTarget(config);
  if (target.kind === 'pglite') await seedMigratedPglite(target.dataDir);
  const gateway = await startGateway(config, { logger: options.logger ?? pino({ level: config.logLevel }) });
  const clients: WsClient[] = [];
  const adminToken = gateway.bootstrapToken ?? process.env.RSP_TEST_ADMIN_TOKEN ?? '';

  const gql: TestGateway['gql'] = async (query, variables, tokenOrNull) => {
    const token = tokenOrNull === undefined ? adminToken : tokenOrNull;
    const res = await fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as GraphQLResponse<any>) };
  };

  return {
    gateway,
    adminToken,
    gql,
    async upload(imageId, bits, tokenOrNull) {
      const token = tokenOrNull === undefined ? adminToken : tokenOrNull;
      const res = await fetch(`${gateway.url}/images/${imageId}/content`, { method: 'PUT', headers: { 'content-type': 'application/x-tar', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: new Uint8Array(bits) });
      return { status: res.status, body: await res.json() };
    },
    async ok(query, variables, token) {
      const res = await gql(query, variables, token);
      if (res.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors, null, 2)}`);
      return res.data as any;
    },
    ws(connectionParams = { authorization: `Bearer ${adminToken}` }) {
      const client = createClient({ url: gateway.websocketUrl, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.dispose()));
      await gateway.close();
    },
  };
}

/**
 * Publishes `publish` again and again until every subscriber has received at least one event, so a test
 * starts its real events only once the gateway has registered each subscription (graphql-ws acknowledges a
 * connection, never a subscription). The events this leaves in the subscribers' lists are the caller's to skip.
 */
export async function untilReceiving(subscribers: { received: () => number }[], publish: () => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!subscribers.every((s) => s.received() > 0)) {
    if (Date.now() > deadline) throw new Error(`subscribers got nothing in ${timeoutMs} ms (${subscribers.map((s) => s.received()).join(', ')} events)`);
    publish();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Subscribes and collects events until `until` returns true for one (or the time runs out). */
export function collect<T>(client: WsClient, query: string, variables: Record<string, unknown>, until: (event: T) => boolean, timeoutMs = 15_000): { events: T[]; done: Promise<T[]>; ready: Promise<void> } {
  const events: T[] = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let finished = false;
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms with ${events.length} events: ${JSON.stringify(events).slice(0, 500)}`));
    }, timeoutMs);
    const unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            reject(new Error(JSON.stringify(value.errors)));
            return;
          }
          // Frames batched into one socket write arrive together: none may follow the match.
          if (finished) return;
          const event = value.data as T;
          events.push(event);
          if (until(event)) {
            finished = true;
            clearTimeout(timer);
            unsubscribe();
            resolve(events);
          }
        },
        error: (e) => {
          clearTimeout(timer);
          const closed = e as { code?: number; reason?: string };
          reject(e instanceof Error ? e : new Error(closed.code ? `connection closed: ${closed.code} ${closed.reason ?? ''}` : JSON.stringify(e)));
        },
        complete: () => undefined,
      },
    );
    client.on('connected', () => readyResolve());
  });
  // graphql-ws acknowledges the connection before the subscription is registered; a short tick after is enough.
  return { events, done, ready: ready.then(() => new Promise((r) => setTimeout(r, 100))) };
}
