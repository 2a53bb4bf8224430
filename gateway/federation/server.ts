import { createServer, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExecutionArgs, GraphQLError, GraphQLSchema, parse, print, subscribe } from 'graphql';
import { createYoga, isAsyncIterable, Plugin } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { FederationConfig } from './config';
import { authenticate, FederationContext } from './context';
import { federation } from './federated-schema';
import { federationPostHandler } from './post-handler';
import { SiteIndex } from './routing';
import { sharedStreams } from './shared-subscriptions';
import { rootField } from '../server/shared-execution';
import { tooLarge } from '../server/graphql-post';
import { MAX_GRAPHQL_BODY_BYTES } from '../server/http-app';
import { quietFrameErrors } from '../server/frame-errors';
import { refuseUpgrade } from '../server/graphql-upgrade';
import { variableShapeRefusal } from '../server/variable-shape';
import { siteSchema, siteSubschemas, SITE_TIMEOUT_MS } from './sites';
import { checkOperationLimits, OperationLimitError, OperationLimits } from '../limits/operation-limits';
import { operationLimitsFromEnv } from '../config/config';
import { clientAddress } from '../limits/client-address';
import { federationGuardSettings, FederationGuards, FederationGuardSettings, refuseRate, serverTimeouts } from './guards';

/** A running federation gateway. */
export interface FederationGateway {
  /** `http://host:port` */
  url: string;
  graphqlUrl: string;
  close(): Promise<void>;
}

/** Adds the errors of sites that did not answer to the result: the caller gets the other sites' data and knows what is missing. */
const siteErrorsPlugin: Plugin<FederationContext> = {
  onExecute: () => ({
    onExecuteDone: ({ args, result, setResult }) => {
      if (isAsyncIterable(result)) return;
      const siteErrors = (args.contextValue as FederationContext).siteErrors;
      if (siteErrors.length) setResult({ ...result, errors: [...(result.errors ?? []), ...siteErrors] });
    },
  }),
};

/** The operation limits of a site's settings (RSP_MAX_QUERY_DEPTH…, see `operationLimitsFromEnv`) as the limits check takes them. */
export function federationLimits(env: NodeJS.ProcessEnv = process.env): OperationLimits {
  const l = operationLimitsFromEnv(env);
  return { maxDepth: l.maxQueryDepth, maxAliases: l.maxQueryAliases, maxTokens: l.maxQueryTokens, maxDirectives: l.maxQueryDirectives, maxCost: l.maxQueryCost, maxBatchItems: l.maxBatchItems };
}

/**
 * Starts `rsp federate`: one GraphQL endpoint (HTTP and graphql-ws) over the member sites of
 * `config`. Every operation is held to a site's operation limits (`limits`, default those of
 * this process's RSP_MAX_QUERY_* settings, as a site reads them) before it is executed: the
 * federation sends each root field to every site it goes to in a request of its own, within each
 * site's limits, so without its own a request of thousands of aliased root fields would be
 * thousands of requests to each site. Its callers are held to `guards` (default this process's
 * settings, see FederationGuardSettings): operations per group a minute, graphql-ws sockets and
 * operations per socket, connections, and the time to send a request.
 */
export async function startFederationGateway(config: FederationConfig, options: { port?: number; host?: string; siteTimeoutMs?: number; limits?: OperationLimits; guards?: Partial<FederationGuardSettings> } = {}): Promise<FederationGateway> {
  const limits = options.limits ?? federationLimits();
  const guards = new FederationGuards({ ...federationGuardSettings(), ...options.guards });
  const schema = siteSchema();
  const { subschemas: sites, close: closeSites } = siteSubschemas(config, schema, options.siteTimeoutMs ?? SITE_TIMEOUT_MS);
  const siteNames = new Set(config.sites.map((s) => s.name));
  const { schema: federated, forwarding } = federation(sites, schema, new SiteIndex(), new Map(config.sites.map((s) => [s.name, s.url])));
  /** A request's context from its headers: its federation group (401 without a valid key), the site it named. */
  const contextOf = (header: (name: string) => string | null | undefined): FederationContext => {
    const group = authenticate(config, header('authorization'));
    const site = header('x-rsp-site') ?? undefined;
    if (site !== undefined && !siteNames.has(site)) throw new GraphQLError(`Unknown site ${site} (header x-rsp-site): the members are ${[...siteNames].join(', ')}`, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
    return { group, siteErrors: [], ...(site !== undefined ? { site } : {}) };
  };
  const yoga = createYoga<Record<string, unknown>, FederationContext>({
    schema: federated,
    graphiql: false,
    landingPage: false,
    logging: 'warn',
    plugins: [siteErrorsPlugin, limitsPlugin(federated, limits), variableShapePlugin],
    context: ({ request }) => contextOf((name) => request.headers.get(name)),
  });
  // Queries and mutations in JSON: straight to the federation's execution (and its by-id fast path), Yoga for the rest.
  const post = federationPostHandler({
    schema: federated,
    forwarding,
    limits,
    context: contextOf,
    yoga: (req, res) => yoga(req, res),
    yogaFetch: (url, init) => yoga.fetch(url, init),
    logError: (error) => yoga.logger.error(error),
  });
  // The caller's rate first (its group's, or its address's without a valid key: 429 RATE_LIMITED); a body over a site's limit (2 MiB) is refused before it is read, as a site does.
  const server: Server = createServer(serverTimeouts(guards.settings), (req, res) => {
    if (guards.isRefused(req.socket)) return void req.socket.destroy();
    const refused = guards.rate(groupOf(config, req.headers.authorization), clientAddress(req));
    if (refused) refuseRate(res, refused);
    else if (Number(req.headers['content-length']) > MAX_GRAPHQL_BODY_BYTES) tooLarge(req, res, 0);
    else if (req.method === 'POST' && req.headers['content-length'] === undefined) lengthRequired(res);
    else post(req, res);
  });
  guards.capConnections(server);
  // Listening first: a port in use fails here, before a WebSocket server on it would report the error too.
  const host = options.host ?? config.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? config.port ?? 4100, host, () => resolve());
  });
  // Subscriptions: graphql-ws on the same path, the federation key in the connection params; a message at most a body's size.
  // Sockets are admitted at their upgrade, before the handshake (429 RATE_LIMITED over the caps of their address).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_GRAPHQL_BODY_BYTES });
  wss.on('connection', (socket: WebSocket) => quietFrameErrors(socket));
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (guards.isRefused(socket)) socket.destroy();
    else if (new URL(req.url ?? '/', 'http://federation').pathname !== '/graphql') refuseUpgrade(socket, 404, 'Not Found', 'WebSocket connections are served on /graphql only', 'NOT_FOUND');
    else if (guards.admitSocket(req, socket)) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  // Subscribers of one group asking the same thing read one execution: each site event is merged, resolved and serialized once, not once per subscriber, and written straight to their sockets.
  const sharedSubscribe = sharedStreams<ExecutionArgs>(
    subscribe,
    (args) => JSON.stringify([(args.contextValue as FederationContext).group.name, args.operationName ?? null, args.variableValues ?? null, print(args.document)]),
    (args) => {
      const subscription = (args.contextValue as FederationContext).subscription;
      const field = rootField(args);
      return subscription && field ? { subscription, responseKey: field.responseKey } : undefined;
    },
  );
  const wsServer = useServer<Record<string, unknown>>(
    {
      schema: federated,
      subscribe: sharedSubscribe,
      // Over a socket there is no HTTP status: the refusal's code and details only (the operation gets an error message, the socket stays open).
      // Then the operations running on the socket (this one counted) and the group's rate: RATE_LIMITED.
      onSubscribe: (ctx, _id, payload) => {
        const refused = guards.socketOperations(Object.keys(ctx.subscriptions).length) ?? guards.rate(groupOf(config, wsAuthorization(ctx.connectionParams)), clientAddress(ctx.extra.request));
        if (refused) return [new GraphQLError(refused.message, { extensions: withoutHttp(refused.extensions) })];
        const refusal = limitRefusal(federated, limits, payload);
        if (refusal) return [new GraphQLError(refusal.message, { extensions: withoutHttp(refusal.extensions) })];
        const shape = variableShapeOf(federated, payload);
        return shape ? [new GraphQLError(shape.message, { extensions: withoutHttp(shape.extensions) })] : undefined;
      },
      onConnect: (ctx) => {
        try {
          authenticate(config, wsAuthorization(ctx.connectionParams));
          return true;
        } catch {
          return false;
        }
      },
      context: (ctx, id): FederationContext => ({ group: authenticate(config, wsAuthorization(ctx.connectionParams)), siteErrors: [], subscription: { id, socket: ctx.extra.socket } }),
    },
    wss,
  );
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    close: () => new Promise<void>((resolve) => {
      void wsServer.dispose();
      server.closeAllConnections();
      server.close(() => {
        closeSites();
        resolve();
      });
    }),
  };
}

/** The refusal of an operation over `limits` (OperationLimitError), or undefined when it is within them or not an operation (Yoga or graphql-ws answer it). */
function limitRefusal(schema: GraphQLSchema, limits: OperationLimits, params: { query?: unknown; variables?: unknown; operationName?: unknown }): OperationLimitError | undefined {
  if (typeof params.query !== 'string') return undefined;
  const variables = params.variables !== null && typeof params.variables === 'object' && !Array.isArray(params.variables) ? (params.variables as Record<string, unknown>) : undefined;
  try {
    checkOperationLimits(schema, { source: params.query, variables, operationName: typeof params.operationName === 'string' ? params.operationName : undefined }, limits);
    return undefined;
  } catch (e) {
    if (e instanceof OperationLimitError) return e;
    throw e;
  }
}

function withoutHttp(extensions: GraphQLError['extensions']): Record<string, unknown> {
  const { http: _http, ...rest } = extensions;
  return rest;
}

/** Refuses, before Yoga parses it, an operation over `limits`: 400 with the limit's code and details, as a site answers it. */
function limitsPlugin(schema: GraphQLSchema, limits: OperationLimits): Plugin<FederationContext> {
  return {
    onParams: ({ params, setResult }) => {
      const refusal = limitRefusal(schema, limits, params);
      if (refusal) setResult({ errors: [refusal] });
    },
  };
}

/**
 * Refuses, before graphql-js reads them, variables of the wrong shape (`variableShapeRefusal`):
 * graphql-js quotes a refused value into an error per field, and an input object of 10,000
 * unknown fields held the federation for seconds.
 */
const variableShapePlugin: Plugin<FederationContext> = {
  onExecute: ({ args, setResultAndStopExecution }) => {
    const refusal = variableShapeRefusal(args.schema, args.document, args.operationName, args.variableValues);
    if (refusal) setResultAndStopExecution({ errors: [refusal] });
  },
  onSubscribe: ({ args, setResultAndStopExecution }) => {
    const refusal = variableShapeRefusal(args.schema, args.document, args.operationName, args.variableValues);
    if (refusal) setResultAndStopExecution({ errors: [refusal] });
  },
};

/** The refusal of a graphql-ws payload's variables of the wrong shape (`variableShapeRefusal`), when its query parses. */
function variableShapeOf(schema: GraphQLSchema, payload: { query?: unknown; variables?: unknown; operationName?: unknown }): GraphQLError | undefined {
  if (typeof payload.query !== 'string' || payload.variables === null || typeof payload.variables !== 'object') return undefined;
  let document;
  try {
    document = parse(payload.query);
  } catch {
    return undefined;
  }
  return variableShapeRefusal(schema, document, typeof payload.operationName === 'string' ? payload.operationName : undefined, payload.variables as Record<string, unknown>);
}

/** The name of the group whose key `authorization` carries, undefined without a valid one. */
function groupOf(config: FederationConfig, authorization: string | null | undefined): string | undefined {
  try {
    return authenticate(config, authorization).name;
  } catch {
    return undefined;
  }
}

/** The federation key in graphql-ws connection params: `{ authorization: "Bearer …" }`. */
function wsAuthorization(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

/** 411 for a POST without a length (a chunked body): the federation measures a body before it reads it. */
function lengthRequired(res: ServerResponse): void {
  const text = JSON.stringify({ errors: [{ message: 'A request body needs a Content-Length here', extensions: { code: 'BAD_REQUEST' } }] });
  res.writeHead(411, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}
