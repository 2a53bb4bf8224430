import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { ExecutionResult, GraphQLError, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { DataSource } from 'typeorm';
import { WebSocketServer } from 'ws';
import { join } from 'node:path';
import type { GatewayPlugin } from '../../plugins/api';
import { toApolloPlugin } from '../../plugins/apollo-adapter';
import { loadPluginSet, type PluginSet } from '../../plugins/loader';
import { buildGatewaySchema, PRECOERCED_INPUT_TYPES } from '../../schema/build-schema';
import { AgentLink } from '../agent/agent-link';
import { agentRegistry, DEFAULT_DRIVERS } from '../agent/builtin-drivers';
import type { HostAgent } from '../agent/host-agent';
import { InProcessAgent } from '../agent/in-process-agent';
import { InProcessHeartbeats } from '../agent/in-process-heartbeats';
import { throughLoopback } from '../agent/loopback-channel';
import { AgentServer } from '../agent/remote/agent-server';
import { AGENT_WEBSOCKET_PATH } from '../agent/remote/handshake';
import { joinReplicas, type GatewayReplicas } from '../agent/replicas/gateway-replicas';
import { adoptLegacyLocalHosts, claimLocalAgent, type LocalAgentClaim } from '../agent/replicas/local-agent-claim';
import { RedisReplicaBus } from '../agent/replicas/redis-replica-bus';
import { ImageStore } from '../artifacts/image-store';
import { imageContentHandler, peerStoreHandler } from './peer-http';
import { ArtifactStore } from '../artifacts/artifact-store';
import type { ChunkTransport } from '../artifacts/chunk-transport';
import { StoreChunkTransport } from '../artifacts/store-chunk-transport';
import { Peering } from '../peering/peering';
import { PeerTokenSeal } from '../peering/peer-token-seal';
import { GroupKeys } from '../replication/group-keys';
import { SYSTEM } from '../auth/principal';
import { defaultSetupNames, MachineSetup, type SetupOutcome } from '../setup/machine-setup';
import type { SetupNames } from '../setup/setup-record';
import { gatewayId } from './gateway-id';
import { withBodyDeadline } from './body-deadline';
import { imageUploadHandler } from './image-upload';
import { adminBackupHandler } from './admin-backup';
import { guardExecutionArgs, inputGuardPlugin, SafeInputTextRule } from './input-guard';
import { bearerSecret } from '../auth/bearer';
import { ConfigError, type GatewayConfig } from '../config/config';
import type { GatewayContext } from '../context';
import { formatGraphQLError, outageOf } from '../errors';
import { createGatewayPubSub } from '../events/pubsub';
import { redisPrefix } from '../events/redis-prefix';
import { createLogger, Logger } from '../logging/logger';
import { EmbeddedVacuum } from '../persistence/embedded-vacuum';
import { installationId } from '../persistence/installation';
import { PeriodicTask } from '../scheduling/periodic-task';
import { GATEWAY_APPLICATION_NAME } from '../persistence/connection-names';
import { databaseTarget, describeTarget, openDataSource, runMigrations } from '../persistence/data-source';
import { makeDataDir } from '../persistence/data-dir';
import { refuseNewerSchema } from '../persistence/migration-status';
import { createServices, Services } from '../services';
import { RSP_VERSION } from '../version';
import { AGENT_PROTOCOL_VERSION, SPOKEN_PROTOCOLS, type ProtocolRange } from '../agent/protocol';
import { createHttpApp, healthHandler, httpErrorHandler, MAX_GRAPHQL_BODY_BYTES, notFoundHandler, requestIdOf } from './http-app';
import { dashboardHandler, defaultWebDir } from './dashboard';
import { graphqlPostHandler, isJsonGraphQLPost } from './graphql-post';
import { prometheusHandler, requestCountingPlugin } from './prometheus-endpoint';
import { requestLoggingPlugin } from './request-logging';
import { variablePrecoercionPlugin } from './variable-precoercion';
import { createSharedSubscribe, SubscriptionSocket } from './shared-execution';
import type { Principal } from '../auth/principal';
import { limitsPlugin } from '../limits/apollo-limits-plugin';
import { httpOperationRefusal } from '../limits/http-limits';
import { clientAddress } from '../limits/client-address';
import { BucketsFactory, RequestLimits } from '../limits/request-limits';
import { SharedRateBuckets } from '../limits/shared-buckets';
import { UnauthenticatedSockets } from '../limits/socket-admission';
import { limitSocketOperation } from '../limits/socket-operations';
import { EXEC_WEBSOCKET_PATH, execSocket } from './exec-socket';
import { graphqlUpgrade, upgradeSecret } from './graphql-upgrade';
import { RefusalLog } from '../limits/refusal-log';
import { contextOutage, outageStatusPlugin } from './outage-response';
import { closeForCredentials, CredentialSockets, TOKEN_REFUSED_REASON } from './credential-sockets';
import { certificateProblems, createListener } from './tls';
import { ACCEPT_HANDLES, AcceptHandles, listenWithAcceptHandles } from './accept-handles';
import { listenPortProblems } from './port-problems';
import { capConnections, type ConnectionCapWatcher } from './connection-cap';

/**
 * How long a stopping gateway lets in-flight HTTP requests finish before it cuts their connections;
 * with the operations' drain (2 s, then 1 s after interrupting them) a stop takes under 5 s.
 */
const HTTP_DRAIN_GRACE_MS = 1_500;

/**
 * The listen backlog of the gateway's port: connections the kernel holds until the event loop
 * accepts them (the kernel caps it at net.core.somaxconn). Node's default, 511, is about one
 * anonymous burst of the hardening issue; over it, connections wait for a SYN-ACK retransmission.
 */
export const LISTEN_BACKLOG = 4096;


/** A running gateway. */
export interface Gateway {
  /** `http://host:port` (`https://` with TLS) */
  url: string;
  /** `http://host:port/graphql` */
  graphqlUrl: string;
  /** `ws://host:port/graphql` (`wss://` with TLS) */
  websocketUrl: string;
  /** `http://host:port` of the health port (`RSP_HEALTH_PORT`: `/healthz` and `/readyz` only), when set. */
  healthUrl?: string;
  config: GatewayConfig;
  logger: Logger;
  dataSource: DataSource;
  services: Services;
  /** The host agents this gateway reaches (the in-process ones can be disconnected and reconnected). */
  agents: AgentLink;
  schema: GraphQLSchema;
  /** The first site-admin token's secret, when this start created it (first start only). */
  bootstrapToken?: string;
  /** What the first-start set-up of this machine found or did (absent when turned off); its images settle in the background. */
  setup?: SetupOutcome;
  /** With TLS: reads the certificate and key again for new connections (`rsp serve` does on SIGHUP). */
  reloadCertificates(): void;
  /** Stops accepting work, waits for running operations and closes the database. */
  close(): Promise<void>;
}

/** Options of `startGateway` beyond the config. */
export interface StartOptions {
  logger?: Logger;
  /** Run pending migrations before serving (default true). */
  migrate?: boolean;
  /**
   * The names the first-start set-up of this machine uses (`rsp init`), or false for none; default:
   * the configured ones (`RSP_SITE_NAME`, `RSP_LOCAL_HOST`, group `admin`) when `RSP_BOOTSTRAP` is on.
   */
  setup?: SetupNames | false;
  /**
   * The agent protocol versions this gateway speaks (default `SPOKEN_PROTOCOLS`): with agents at
   * the handshake and with other replicas on the relay. For tests only (`RSP_TEST_GATEWAY_PROTOCOL`),
   * to run a replica of N−1 beside one of N; its code, schema and in-process agent stay this version's.
   */
  protocols?: ProtocolRange;
  /** Listening sockets on the gateway's port (default `ACCEPT_HANDLES`): for benches, to compare counts. */
  acceptHandles?: number;
}

/**
 * Starts a gateway: opens the database (PostgreSQL or embedded PGlite), migrates it, builds the
 * federated schema, and serves GraphQL over HTTP and graphql-ws on one port.
 */
export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config);
  const protocols = options.protocols ?? SPOKEN_PROTOCOLS;
  const target = databaseTarget(config);
  // Unusable TLS files stop the start before the database is opened or migrated.
  const tlsProblems = certificateProblems(config);
  if (tlsProblems.length) throw new ConfigError(tlsProblems);
  // So does a port it could not listen on: a first start would make its site-admin token, then fail
  // to serve, and the token (shown only once it serves) would be lost.
  const portProblems = await listenPortProblems(config);
  if (portProblems.length) throw new ConfigError(portProblems);
  // The data directory, made now on PostgreSQL too (its id, keys and backups go there), so that one
  // that cannot be made (under /proc, where Node's recursive mkdir never returns) is said on one line.
  if (target.kind === 'postgres') makeDataDir(config.dataDir, "the gateway's data directory");
  logger.info({ database: describeTarget(target) }, 'opening database');
  const dataSource = await openDataSource(target, logger, GATEWAY_APPLICATION_NAME);
  let pubSubClose: (() => Promise<void>) | undefined;
  let replicas: GatewayReplicas | undefined;
  let localClaim: LocalAgentClaim | undefined;
  let sharedRates: SharedRateBuckets | undefined;
  try {
    if (options.migrate !== false) await runMigrations(dataSource, logger);
    else await refuseNewerSchema(dataSource);
    const redisNamespace = config.redisUrl ? await redisPrefix(dataSource, config.redisPrefix) : '';
    const bus = createGatewayPubSub(config.redisUrl, (err) => logger.warn({ err }, 'event bus (Redis) unreachable: events are lost until it is back'), redisNamespace);
    pubSubClose = bus.close;
    // With Redis, the replicas count the rate limits together.
    if (config.redisUrl) sharedRates = new SharedRateBuckets(config.redisUrl, redisNamespace, logger);
    const pubSub = bus.pubSub;
    logger.info({ pubSub: bus.kind }, 'event bus ready');
    // Agents fetch images' chunks from the gateway's image store.
    const imageStore = new ImageStore(join(config.imageDir, 'content'), undefined, ArtifactStore.inDirectory(join(config.imageDir, 'chunks'), { logger }));
    const upstream = new StoreChunkTransport(imageStore.chunks);
    // The in-process agent's stable id, claimed so that no other gateway on this database serves it too.
    localClaim = await claimLocalAgent(dataSource, { configured: config.localAgentId, replicated: !!config.redisUrl, embedded: target.kind === 'pglite' }, logger, config.heartbeatMs);
    const adopted = await adoptLegacyLocalHosts(dataSource, localClaim.agentId);
    if (adopted) logger.info({ agent: localClaim.agentId, hosts: adopted }, 'hosts of the agent "local" are served by this gateway\'s in-process agent');
    // What its drivers make carries the installation's id (the same for every replica, across restarts): another installation sharing the engines never sees it.
    const owner = await installationId(dataSource);
    const { agent, plugins } = await startLocalAgent(config, logger, upstream, localClaim.agentId, owner);
    const agents = new AgentLink(localClaim.agentId);
    agents.add(await reach(agent, config, logger));
    // Another gateway took its id while the claim's lock was lost (a PostgreSQL restart): this one serves it no more (the claim logged why).
    localClaim.onLost((id) => agents.get(id) && agents.disconnect(id));
    for (const extra of await startExtraAgents(config, logger, plugins, upstream, owner)) agents.add(await reach(extra, config, logger));
    // With Redis, this gateway is one of several replicas: agents connected to the others are reached through the call relay.
    if (config.redisUrl) replicas = await joinReplicas({ bus: new RedisReplicaBus(config.redisUrl, redisNamespace), agents, logger, ttlMs: config.agentDirectoryTtlMs, maxFrameBytes: config.relayMaxFrameBytes, callTimeoutMs: config.relayCallTimeoutMs, newestProtocol: protocols.newest });
    const claim = localClaim;
    const rates = sharedRates;
    const closeBus = async () => {
      await rates?.close();
      await replicas?.close();
      await bus.close();
      await claim.release();
    };
    const services = createServices({
      dataSource,
      gatewayId: gatewayId(config.dataDir),
      pubSub,
      logger,
      info: { site: config.siteName, version: RSP_VERSION, database: target.kind },
      agents,
      imageStore,
      groupStorageBytes: config.groupStorageBytes,
      subscriberBuffer: config.subscriberBuffer,
      localHost: config.localHost,
      placement: { snapshotMs: config.placementSnapshotMs },
      health: { heartbeatMs: config.heartbeatMs, downAfterMs: config.hostDownAfterMs, restartGraceMs: config.hostRestartGraceMs },
      artifactStore: ArtifactStore.inDirectory(config.artifactDir, { logger }),
      peering: new Peering(config.peerSites, new PeerTokenSeal(config.peerTokenKeyFile ?? join(config.dataDir, 'secrets', 'peer-tokens.key'))),
      groupKeys: new GroupKeys(dataSource, { legacyFile: join(config.dataDir, 'secrets', 'replica-group-keys.secret'), logger }),
      replication: { minimumIntervalMinutes: config.replicationMinIntervalMinutes, backoff: { baseMs: config.replicationRetryBaseMs, maxMs: 3_600_000 }, maxKeep: 100, verify: { ...(config.replicaVerifyBytesPerSecond === undefined ? {} : { bytesPerSecond: config.replicaVerifyBytesPerSecond }), floorBytesPerSecond: config.replicaVerifyFloorBytesPerSecond, intervalMs: config.replicaVerifyIntervalHours * 3_600_000 } },
    });
    // The in-process agents' heartbeats go through the receiver remote agents' do; the first now, so their hosts are UP from the start.
    // Connections a crashed run of this gateway left open are closed; the in-process agents' open now.
    await services.agentConnections.closeStale();
    for (const id of agents.connected()) await services.agentConnections.opened(id, { version: RSP_VERSION, remoteAddress: 'in-process', protocol: AGENT_PROTOCOL_VERSION });
    const inProcessBeats = new InProcessHeartbeats(agents, services.health, config.heartbeatMs, logger);
    await inProcessBeats.beat();
    const schema = await buildGatewaySchema(pubSub);
    // Each host's technologies and inventory come from its agent's facts (an admin may narrow and reserve).
    for (const id of agents.connected()) await services.hostFacts.refreshAgent(id);
    // A previous run killed with -9 (or crashed) could not end its operations: nothing runs them now.
    await services.operations.failAbandoned();
    // …nor end its transfers, whose reserved bytes would hold their groups' quotas.
    await services.storageQuotas.releaseAbandoned();
    // …but transfers other sites began here go on, with their claims (or end, when silent too long).
    await services.peerStore.resumeOpen();
    // Peer tokens policies kept in plain text (before they were sealed) are sealed now.
    await services.peering.sealStoredTokens(dataSource, logger);
    // Their environments, left CREATING, STARTING…, are settled from what the engines report (remote agents' when they connect).
    for (const id of agents.connected()) await services.environments.settleAfterReconnect(id);
    const bootstrap = await services.tokens.bootstrapSiteAdmin();
    if (bootstrap) logger.warn('created the first site-admin token; it is printed once, keep it');
    const setupNames = options.setup ?? (config.bootstrap ? { ...defaultSetupNames(config.siteName, config.localHost), image: config.bootstrapImage } : false);
    // A set-up that fails does not stop a first start from serving (the next start completes it); `rsp init`'s does.
    const setup = setupNames
      ? await new MachineSetup({ dataSource, services, agents, workDir: join(config.dataDir, 'setup'), logger }).run(setupNames).catch((e: unknown) => {
          if (options.setup) throw e;
          logger.warn({ err: e }, 'first start: setting this machine up failed; the next start completes it');
          return undefined;
        })
      : undefined;
    await services.environments.reconcile();
    for (const id of agents.connected()) await services.orphans.scan(id);
    const leaseSweep = new PeriodicTask('lease sweep', () => services.placement.expireLeases(), logger);
    leaseSweep.start(config.leaseSweepMs);
    // Host agents on other machines (`rsp agent`) dial in at /agent.
    const agentServer = new AgentServer({ agents, credentials: services.agentCredentials, hostFacts: services.hostFacts, heartbeats: services.health, upstream, logger, heartbeatMs: config.heartbeatMs, silenceMs: config.hostDownAfterMs, protocols, onConnected: (id) => services.environments.settleAfterReconnect(id).finally(() => services.orphans.scan(id)) });
    agents.onChange((id, connected) => void (connected ? services.agentConnections.opened(id, agentServer.describe(id) ?? { version: RSP_VERSION, remoteAddress: 'in-process', protocol: AGENT_PROTOCOL_VERSION }) : services.agentConnections.closed(id)));
    // An in-process agent connected again is looked over for orphans too (remote ones are, once in the link: onConnected).
    agents.onChange((id, connected) => void (connected && agents.reachOf(id) === 'in-process' && services.orphans.scan(id)));
    const gateway = await serve(config, logger, dataSource, services, schema, plugins.gatewayPlugins, closeBus, agentServer, rates?.factory, options.acceptHandles);
    services.metrics.start(config.metricsIntervalMs);
    services.replication.runs.start(config.replicationIntervalMs);
    services.replication.verifier.start();
    services.replication.drills.start(config.replicationIntervalMs);
    await services.health.tick();
    services.health.start();
    inProcessBeats.start();
    // PGlite has no autovacuum: the gateway does its work.
    const vacuum = target.kind === 'pglite' ? new EmbeddedVacuum(dataSource, logger) : undefined;
    vacuum?.start();
    const close = gateway.close;
    return {
      ...gateway,
      agents,
      bootstrapToken: bootstrap?.secret,
      setup,
      close: async () => {
        await setup?.images;
        await inProcessBeats.stop();
        await leaseSweep.stop();
        await vacuum?.stop();
        await services.agentConnections.closeAll().catch((e: unknown) => logger.warn({ err: e }, 'could not close the agent connection records'));
        await close();
      },
    };
  } catch (e) {
    await sharedRates?.close().catch(() => undefined);
    await replicas?.close().catch(() => undefined);
    await localClaim?.release().catch(() => undefined);
    await pubSubClose?.().catch(() => undefined);
    await dataSource.destroy().catch(() => undefined);
    throw e;
  }
}

/** The in-process host agent with the configured built-in drivers and plugins, probed. */
async function startLocalAgent(config: GatewayConfig, logger: Logger, upstream: ChunkTransport, agentId: string, owner: string): Promise<{ agent: InProcessAgent; plugins: PluginSet }> {
  const plugins = await loadPluginSet(config.plugins, { dataDir: config.dataDir, options: pluginOptions(config) });
  for (const m of plugins.manifests) logger.info({ plugin: m.name, kind: m.kind, from: m.specifier }, 'plugin loaded');
  const registry = await agentRegistry(config.drivers ?? DEFAULT_DRIVERS, config.dataDir, { owner, plugins: plugins.driverPlugins, pluginOptions: pluginOptions(config) });
  // Its store is not `<RSP_DATA_DIR>/artifacts`, the gateway's own store (RSP_ARTIFACT_DIR) by default.
  const agent = new InProcessAgent(registry, config.dataDir, logger.child({ agent: agentId }), agentId, join(config.dataDir, 'agent', 'artifacts'), upstream);
  await agent.probe();
  return { agent, plugins };
}

/** The extra in-process agents of `RSP_AGENTS`, each with its own built-in and plugin driver instances and data directory, probed. */
async function startExtraAgents(config: GatewayConfig, logger: Logger, plugins: PluginSet, upstream: ChunkTransport, owner: string): Promise<InProcessAgent[]> {
  const agents: InProcessAgent[] = [];
  for (const a of config.agents) {
    const registry = await agentRegistry(config.drivers ?? DEFAULT_DRIVERS, a.dataDir, { instance: a.id, owner, plugins: plugins.driverPlugins, pluginOptions: pluginOptions(config) });
    const agent = new InProcessAgent(registry, a.dataDir, logger.child({ agent: a.id }), a.id, join(a.dataDir, 'artifacts'), upstream);
    await agent.probe();
    agents.push(agent);
  }
  return agents;
}

/** Each plugin's settings, by plugin name (`RSP_PLUGIN_OPTIONS`). */
function pluginOptions(config: GatewayConfig): Record<string, Record<string, unknown>> {
  return config.pluginOptions as Record<string, Record<string, unknown>>;
}

/** How the gateway reaches an in-process agent: directly, or through the JSON loopback (`RSP_AGENT_TRANSPORT=loopback`) after the protocol handshake. */
async function reach(agent: InProcessAgent, config: GatewayConfig, logger: Logger): Promise<HostAgent> {
  if (config.agentTransport !== 'loopback') return agent;
  const client = throughLoopback(agent, logger.child({ agent: agent.id }));
  await client.connect();
  return client;
}

async function serve(config: GatewayConfig, logger: Logger, dataSource: DataSource, services: Services, schema: GraphQLSchema, gatewayPlugins: GatewayPlugin[], closePubSub: () => Promise<void>, agentServer: AgentServer, sharedBuckets?: BucketsFactory, handles = ACCEPT_HANDLES): Promise<Omit<Gateway, 'agents'>> {
  const readinessChecks = [{ name: 'drivers', check: async () => ({ ok: true, detail: (await services.environments.drivers(SYSTEM)).map((d) => ({ name: d.name, available: d.available })) }) }];
  const app = createHttpApp({ logger, dataSource, graphiql: config.graphiql, readinessChecks });
  app.put('/images/:id/content', imageUploadHandler(services, logger, config.uploadIdleTimeoutMs));
  app.get('/images/content/:digest', imageContentHandler(services, logger));
  app.post('/peer/store', peerStoreHandler(services, logger, { idleMs: config.uploadIdleTimeoutMs }));
  app.get('/admin/backup', adminBackupHandler(config, dataSource, services, logger));
  app.get('/metrics', prometheusHandler(services, logger));
  let apollo!: ApolloServer<GatewayContext>;
  const limits = new RequestLimits(config, Date.now, sharedBuckets);
  const refusals = new RefusalLog(logger);
  const graphqlPost = graphqlPostHandler<GatewayContext>({ apollo: () => apollo, context: (requestId, req) => contextFor(requestId, req.headers.authorization, clientAddress(req)), logger, refuse: (body) => httpOperationRefusal(limits, schema, body) });
  const listener = createListener(
    config,
    withBodyDeadline((req, res) => (isJsonGraphQLPost(req) ? graphqlPost(req, res) : app(req, res)), { bodyMs: config.requestBodyTimeoutMs, uploadIdleMs: config.uploadIdleTimeoutMs }),
  );
  const httpServer: Server = listener.server;
  // Its connections are bounded (a slowloris client holds no more than its address's share).
  capConnections(httpServer, 'gateway', { total: config.maxConnections, perAddress: config.maxConnectionsPerAddress }, logger, connectionWatcher(services, 'gateway'));
  // The bodies' deadline is withBodyDeadline's, which spares uploads that keep sending: Node's cannot.
  httpServer.requestTimeout = 0;
  // A message is held to a POST body's limit (ws would take up to 100 MiB): over it, the socket closes with 1009.
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: MAX_GRAPHQL_BODY_BYTES });
  let acceptHandles: AcceptHandles | undefined;
  const unauthenticated = new UnauthenticatedSockets({ total: config.maxAnonymousSockets, perAddress: config.maxAnonymousSocketsPerAddress });
  const upgrade = graphqlUpgrade({ limits, unauthenticated, refusals, authenticate: (secret) => services.tokens.authenticate(secret), wsServer });
  const credentialSockets = new CredentialSockets((listener) => services.tokens.onRevoked(listener));
  const execSessions = execSocket({ limits, refusals, authenticate: (secret) => services.tokens.authenticate(secret), environments: services.environments, credentialSockets, watchEnvironment: (id, changed) => services.metrics.watchEnvironment(id, changed), logger });
  // Three WebSocket endpoints on one port: GraphQL subscriptions, interactive exec and host agents.
  httpServer.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/graphql') {
      // Every refusal of a socket comes before its handshake (graphql-upgrade.ts).
      upgrade.handle(req, socket, head).catch((e: unknown) => {
        logger.warn({ err: e }, 'graphql-ws upgrade failed');
        socket.destroy();
      });
    } else if (path === EXEC_WEBSOCKET_PATH) {
      execSessions.handle(req, socket, head).catch((e: unknown) => {
        logger.warn({ err: e }, 'exec upgrade failed');
        socket.destroy();
      });
    } else if (path === AGENT_WEBSOCKET_PATH) agentServer.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  const contextFor = async (requestId: string, authorization: unknown, address: string, subscription?: SubscriptionSocket): Promise<GatewayContext> => {
    // An outage while looking the token up is answered 503 with Retry-After, not 500.
    const actor = await services.tokens.authenticate(bearerSecret(authorization)).catch((e: unknown) => Promise.reject(contextOutage(e)));
    if (!actor) {
      throw new GraphQLError('The token is unknown, revoked or expired', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
    }
    const who = actor.kind === 'token' ? actor.tokenId : 'anonymous';
    return { requestId, actor, logger: logger.child({ requestId, actor: who }), services, clientAddress: address, subscription };
  };

  const formatResult = (result: ExecutionResult): ExecutionResult => {
    if (!result.errors?.length) return result;
    return { ...result, errors: result.errors.map((err) => formatGraphQLError(err.toJSON(), err, logger) as unknown as GraphQLError) };
  };

  const wsCleanup = useServer<Record<string, unknown>, { requestId: string; address: string; actor?: Principal }>(
    {
      schema,
      subscribe: createSharedSubscribe({ formatResult }),
      context: (ctx, id) => contextFor(ctx.extra.requestId ?? 'ws', authorizationParam(ctx.connectionParams) ?? upgradeSecret(ctx.extra.request), ctx.extra.address ?? clientAddress(ctx.extra.request), { id, socket: ctx.extra.socket }),
      // A socket without credentials at its upgrade must send them (or be anonymous) within this.
      connectionInitWaitTimeout: config.wsInitTimeoutMs,
      onConnect: async (ctx) => {
        ctx.extra.requestId = requestIdOf(ctx.extra.request);
        ctx.extra.address = clientAddress(ctx.extra.request);
        const admission = upgrade.admissionOf(ctx.extra.request);
        // A token in connection_init that does not authenticate closes the connection (4403); without one, the upgrade's token or anonymous.
        const secret = bearerSecret(authorizationParam(ctx.connectionParams));
        let actor;
        try {
          actor = secret || admission.actor === undefined ? await services.tokens.authenticate(secret) : admission.actor;
        } catch (e) {
          const outage = outageOf(e);
          if (!outage) throw e;
          // 1013 "try again later": the client may reconnect once the database answers.
          ctx.extra.socket.close(1013, outage.message.slice(0, 120));
          return false;
        }
        if (!actor) {
          closeForCredentials(ctx.extra.socket, TOKEN_REFUSED_REASON);
          return false;
        }
        ctx.extra.actor = actor;
        // Authenticated now: its place among the sockets without credentials goes to another (an anonymous socket keeps it until it closes).
        if (actor.kind !== 'anonymous') admission.place?.authenticated();
        // Revoked or expired later, the token's connections close (4403) and their subscriptions end.
        credentialSockets.track(ctx.extra.socket, actor);
        return true;
      },
      // The limits of HTTP operations, and the operations running on one socket.
      // Then text unfit for storage (NUL, lone surrogates) in its variables or literals: refused before anything runs.
      onSubscribe: async (ctx, _id, payload) => guardExecutionArgs(await limitSocketOperation(limits, schema, payload, { address: ctx.extra.address ?? clientAddress(ctx.extra.request), actor: ctx.extra.actor }, Object.keys(ctx.subscriptions).length, refusals)),
      onNext: (_ctx, _id, _payload, _args, result) => formatResult(result as ExecutionResult),
    },
    wsServer,
  );

  apollo = new ApolloServer<GatewayContext>({
    schema,
    introspection: true,
    // No automatic persisted queries: a request naming a registered query by its hash carries no
    // text for the operation limits checked before Apollo, so the variables' cost and batch items
    // (allocateMany) went unchecked. No client of the gateway sends them.
    persistedQueries: false,
    includeStacktraceInErrorResponses: false,
    // The process's signals are the embedder's (`rsp serve` stops through close()): Apollo's own
    // SIGTERM handler raced close(), whose second stop() then waited forever.
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, logger),
    validationRules: [SafeInputTextRule],
    plugins: [
      limitsPlugin(limits),
      inputGuardPlugin<GatewayContext>(),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: HTTP_DRAIN_GRACE_MS }),
      ApolloServerPluginInlineTraceDisabled(),
      // No field sets cache hints, and its per-field hook made Apollo wrap every resolver.
      ApolloServerPluginCacheControlDisabled(),
      requestCountingPlugin(services.metrics.prometheus),
      outageStatusPlugin(),
      { async serverWillStart() { return { async drainServer() { acceptHandles?.close(); credentialSockets.close(); execSessions.close(); refusals.flush(); await wsCleanup.dispose(); } }; } },
      toApolloPlugin([requestLoggingPlugin, ...(gatewayPlugins as GatewayPlugin<GatewayContext>[])], { onHookError: (plugin, hook, error) => logger.warn({ plugin, hook, err: error }, 'gateway plugin hook failed') }),
      // Last: the hooks before it see the request's variables as they were sent.
      variablePrecoercionPlugin<GatewayContext>(PRECOERCED_INPUT_TYPES),
    ],
  });
  await apollo.start();

  // The operation limits of the express route (GET, and POSTs the fast path leaves to it), before Apollo parses.
  app.use('/graphql', (req, res, next) => {
    const refusal = httpOperationRefusal(limits, schema, req.method === 'GET' ? req.query : req.body);
    if (refusal) res.status(refusal.status).json(refusal.body);
    else next();
  });
  app.use(
    '/graphql',
    expressMiddleware(apollo, { context: ({ req, res }) => contextFor(res.locals.requestId as string, req.headers.authorization, clientAddress(req)) }),
  );
  app.use(dashboardHandler(config.webDir ?? defaultWebDir()));
  app.use(notFoundHandler);
  app.use(httpErrorHandler(logger));

  // Several listening sockets on the port, each accepted once a turn (accept-handles.ts), so a
  // burst's connections do not hold a /healthz check in the accept queue for seconds.
  acceptHandles = await listenWithAcceptHandles(httpServer, { port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, logger, handles);
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `${listener.scheme}://${host}:${port}`;
  // A port of its own for a load balancer's checks (RSP_HEALTH_PORT): no client of the gateway's port is ever queued before them.
  const health = config.healthPort === undefined ? undefined : createListener(config, healthHandler({ dataSource, readinessChecks, logger }));
  if (health) {
    capConnections(health.server, 'health', { total: config.healthMaxConnections, perAddress: config.healthMaxConnectionsPerAddress }, logger, connectionWatcher(services, 'health'));
    await listenWithAcceptHandles(health.server, { port: config.healthPort!, host: config.host, backlog: LISTEN_BACKLOG }, logger, 1).catch(async (e: unknown) => {
      // The gateway's port is let go too: the start fails as a whole (a health port in use, say).
      acceptHandles?.close();
      await new Promise((resolve) => httpServer.close(resolve));
      throw e;
    });
  }
  const healthUrl = health && `${health.scheme}://${host}:${(health.server.address() as AddressInfo).port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    websocketUrl: `${listener.scheme === 'https' ? 'wss' : 'ws'}://${host}:${port}/graphql`,
    healthUrl,
    reloadCertificates: () => {
      listener.reloadCertificates();
      health?.reloadCertificates();
      if (listener.scheme === 'https') logger.info({ cert: config.tlsCert }, 'TLS certificate reloaded');
    },
    config,
    logger,
    dataSource,
    services,
    schema,
    close: () =>
      (closing ??= (async () => {
        // A stopping gateway is not ready: the health port's checks fail from now (their connections refused).
        if (health) {
          health.server.closeAllConnections();
          await new Promise((resolve) => health.server.close(resolve));
        }
        await services.metrics.stop();
        await services.health.stop();
        await agentServer.close();
        await apollo.stop();
        await services.replication.runs.stop();
        await services.replication.verifier.stop();
        await services.replication.drills.stop();
        await services.operations.drain();
        await closePubSub();
        await dataSource.destroy();
        logger.info('gateway stopped');
      })()),
  };
}

/** Counts a port's open and refused connections in the gateway's metrics. */
function connectionWatcher(services: Services, port: string): ConnectionCapWatcher {
  const { connections, connectionsRefused } = services.metrics.prometheus;
  return { opened: () => connections.inc({ port }), closed: () => connections.dec({ port }), refused: (limit) => connectionsRefused.inc({ port, limit }) };
}

/** The token in graphql-ws connection params: `{ authorization: "Bearer …" }` or `{ token: "…" }`. */
function authorizationParam(params: Readonly<Record<string, unknown>> | undefined): unknown {
  return params?.authorization ?? params?.Authorization ?? params?.token;
}
