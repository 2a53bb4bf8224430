import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { RspError } from '../errors/rsp-error';
import { httpOrigin } from '../peering/known-peers';
import { DEFAULT_PLACEMENT_SNAPSHOT_MS } from '../placement/defaults';
import { DEFAULT_VERIFY_FLOOR_BYTES_PER_SECOND } from '../replication/settings';
import { redactUrl, SECRET_MASK, SECRET_NAME } from '../logging/redaction';

/** The names of the drivers RSP ships (`gateway/agent/builtin-drivers.ts` makes them); others come as plugins. */
export const BUILTIN_DRIVER_NAMES = ['docker', 'lxc', 'libvirt', 'vserver', 'fake'] as const;

/** Whether `name` is one of the drivers RSP ships. */
function isBuiltinDriver(name: string): boolean {
  return (BUILTIN_DRIVER_NAMES as readonly string[]).includes(name);
}

/**
 * Every setting of the gateway: the environment variable that sets it, its schema, `doc` (its
 * meaning, as the README's configuration table shows it) and, where the default is computed or
 * not a plain value, `shown` (the default as the table shows it). `row` puts a setting in the
 * table row of another one (the leader's `doc` then speaks for both); `secret`: its URL passwords
 * and secret-named fields are masked wherever the value is shown (`maskedValue`).
 * A config file (JSON, `RSP_CONFIG=path`) may set the same settings, each named by its key or its
 * variable; environment variables win. A relative path in the file is relative to the file's
 * folder (`relativeToFile`); elsewhere, to the current directory.
 */
const settings = {
  port: { env: 'PORT', schema: z.coerce.number().int().min(0).max(65535).default(4000), doc: 'port of HTTP and WebSocket (`0` picks a free one)' },
  healthPort: {
    env: 'RSP_HEALTH_PORT',
    schema: z.coerce.number().int().min(0).max(65535).optional(),
    doc: 'a port of its own answering only `GET /healthz` and `GET /readyz` (same address and TLS as `PORT`), for a load balancer\'s checks: they never wait behind the clients of `PORT` (see *Limits*); unset: none',
  },
  host: { env: 'RSP_HOST', schema: z.string().min(1).default('127.0.0.1'), doc: 'address to listen on (`0.0.0.0` for every interface)' },
  tlsCert: {
    env: 'RSP_TLS_CERT',
    schema: z.string().min(1).optional(),
    doc: 'PEM certificate (with its chain) and key: serve HTTPS and WSS on the same port (`rsp serve --tls-cert --tls-key`; see *HTTPS and WSS*)',
  },
  tlsKey: { env: 'RSP_TLS_KEY', schema: z.string().min(1).optional(), doc: 'PEM private key of RSP_TLS_CERT', row: 'tlsCert' },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .refine((url) => URL.canParse(url), 'is not a valid URL')
      .optional(),
    doc: '`postgres://…` to use a PostgreSQL server; unset: embedded PGlite',
    secret: true,
  },
  dataDir: { env: 'RSP_DATA_DIR', schema: z.string().min(1).default('.rsp/data'), doc: 'the embedded database and artifacts' },
  artifactDir: { env: 'RSP_ARTIFACT_DIR', schema: z.string().min(1).optional(), doc: 'the artifact store (replicas, backups): packs of chunks and manifests', shown: '`<RSP_DATA_DIR>/artifacts`' },
  siteName: { env: 'RSP_SITE_NAME', schema: z.string().min(1).default(hostname()), doc: 'the name of this site (and of the site the first start makes)', shown: 'the hostname' },
  bootstrap: {
    env: 'RSP_BOOTSTRAP',
    schema: flag(true),
    doc: 'the first start of an empty database sets this machine up (group `admin`, site, this host, busybox image; see the top of this file); `off` (or `rsp serve --no-bootstrap`) for deployments set up explicitly (`rsp init`, the API)',
  },
  bootstrapImage: { env: 'RSP_BOOTSTRAP_IMAGE', schema: flag(true), doc: 'whether that set-up prepares the busybox image' },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: '`fatal` `error` `warn` `info` `debug` `trace` `silent`',
  },
  logFormat: { env: 'LOG_FORMAT', schema: z.enum(['pretty', 'json']).optional(), doc: 'log lines for people or for machines', shown: '`pretty` on a terminal, else `json`' },
  redisUrl: {
    env: 'REDIS_URL',
    schema: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    secret: true,
    doc: '`redis://…`: gateway replicas (several gateways on one database behind a load balancer) share subscriptions and events, the agent directory, the call relay and the rate limits (see *Several gateway replicas*)',
  },
  metricsIntervalMs: {
    env: 'RSP_METRICS_INTERVAL_MS',
    schema: z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns sampling off)').max(3_600_000).default(1000),
    doc: 'how often host and environment metrics are sampled (`0`: off)',
  },
  subscriberBuffer: {
    env: 'RSP_SUBSCRIBER_BUFFER',
    schema: z.coerce.number().int().min(1).max(100_000).default(100),
    doc: 'events kept per slow subscriber before the oldest are dropped (and counted)',
  },
  localHost: {
    env: 'RSP_LOCAL_HOST',
    schema: z.string().min(1).default(hostname()),
    doc: "the host record that is this machine (its id or hostname): the in-process agent's host samples go to it only",
    shown: "this machine's hostname",
  },
  graphiql: { env: 'RSP_GRAPHIQL', schema: optionalFlag(), doc: 'serve the GraphQL IDE on `GET /graphql`', shown: '`true`; `false` when `NODE_ENV=production`' },
  introspection: {
    env: 'RSP_INTROSPECTION',
    schema: optionalFlag(),
    doc: 'introspection (`__schema`, `__type`, `_service`) without a token; with a token it always works',
    shown: '`true`; `false` when `NODE_ENV=production`',
  },
  /** Fragments add no level; `__schema` is not counted (GraphQL Armor's max-depth). */
  maxQueryDepth: { env: 'RSP_MAX_QUERY_DEPTH', schema: limit(1000, 15), doc: 'operation limits (see *Limits* under *The API*; `0`: off)' },
  maxQueryAliases: { env: 'RSP_MAX_QUERY_ALIASES', schema: limit(100_000, 50), doc: "aliased fields of an operation, through its fragments (GraphQL Armor's max-aliases)", row: 'maxQueryDepth' },
  maxQueryTokens: { env: 'RSP_MAX_QUERY_TOKENS', schema: limit(10_000_000, 5000), doc: "lexical tokens in an operation's document (GraphQL Armor's max-tokens)", row: 'maxQueryDepth' },
  maxQueryDirectives: { env: 'RSP_MAX_QUERY_DIRECTIVES', schema: limit(100_000, 50), doc: "directives of an operation, through its fragments (GraphQL Armor's max-directives)", row: 'maxQueryDepth' },
  maxQueryCost: { env: 'RSP_MAX_QUERY_COST', schema: limit(1e12, 40_000_000), doc: "an operation's estimated cost (fields times the list sizes they return: `first`, batch lengths)", row: 'maxQueryDepth' },
  maxBatchItems: { env: 'RSP_MAX_BATCH_ITEMS', schema: limit(10_000_000, 1000), doc: "items of the list arguments of one operation's fields together (e.g. `allocateMany` requests over all aliases)", row: 'maxQueryDepth' },
  rateQueriesPerMinute: { env: 'RSP_RATE_QUERIES_PER_MINUTE', schema: limit(10_000_000, 6000), doc: 'per token (anonymous callers: per client address); `0`: off' },
  rateMutationsPerMinute: { env: 'RSP_RATE_MUTATIONS_PER_MINUTE', schema: limit(10_000_000, 3000), doc: 'mutations per minute per token (anonymous ones: per client address)', row: 'rateQueriesPerMinute' },
  rateGroupQueriesPerMinute: {
    env: 'RSP_RATE_GROUP_QUERIES_PER_MINUTE',
    schema: limit(100_000_000, 60_000),
    doc: "the same for all the tokens of one group together (a group's 200 live tokens would otherwise have 200 tokens' rates; site-admin tokens are not counted); `0`: off",
  },
  rateGroupMutationsPerMinute: { env: 'RSP_RATE_GROUP_MUTATIONS_PER_MINUTE', schema: limit(100_000_000, 30_000), doc: 'mutations per minute of all the tokens of one group together', row: 'rateGroupQueriesPerMinute' },
  rateSocketsPerMinute: {
    env: 'RSP_RATE_SOCKETS_PER_MINUTE',
    schema: limit(10_000_000, 600),
    doc: 'graphql-ws: new sockets a minute and open sockets per client address, operations running on one socket; `0`: off',
  },
  maxSocketsPerAddress: { env: 'RSP_MAX_SOCKETS_PER_ADDRESS', schema: limit(10_000_000, 256), doc: 'open graphql-ws sockets per client address', row: 'rateSocketsPerMinute' },
  maxSubscriptionsPerSocket: { env: 'RSP_MAX_SUBSCRIPTIONS_PER_SOCKET', schema: limit(100_000, 100), doc: 'running subscriptions (and operations) per graphql-ws socket', row: 'rateSocketsPerMinute' },
  maxAnonymousSockets: {
    env: 'RSP_MAX_ANONYMOUS_SOCKETS',
    schema: limit(10_000_000, 100),
    doc: 'graphql-ws sockets without a token at their upgrade (until a token in `connection_init` authenticates them), on this gateway and per client address; over them the upgrade is refused (503, 429); `0`: off',
  },
  maxAnonymousSocketsPerAddress: { env: 'RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS', schema: limit(10_000_000, 16), doc: 'graphql-ws sockets without a token from one client address', row: 'maxAnonymousSockets' },
  wsInitTimeoutMs: {
    env: 'RSP_WS_INIT_TIMEOUT_MS',
    schema: z.coerce.number().int().min(100).max(60_000).default(3000),
    doc: 'a graphql-ws socket that has not sent `connection_init` by then is closed (4408)',
  },
  maxConnections: {
    env: 'RSP_MAX_CONNECTIONS',
    schema: limit(10_000_000, 16_384),
    doc: "open connections of the gateway's port (HTTP requests, keep-alive connections and WebSockets: subscriptions, exec sessions, host agents), in all and per client address; one over them is closed as it comes (counted in `rsp_http_connections_refused_total`). Behind a proxy, whose connections all come from its address, raise the per-address one; `0`: off",
  },
  maxConnectionsPerAddress: { env: 'RSP_MAX_CONNECTIONS_PER_ADDRESS', schema: limit(10_000_000, 1024), doc: "open connections of the gateway's port from one client address", row: 'maxConnections' },
  healthMaxConnections: {
    env: 'RSP_HEALTH_MAX_CONNECTIONS',
    schema: limit(10_000_000, 512),
    doc: "open connections of the health port (`RSP_HEALTH_PORT`), in all and per client address, refused as the gateway's port's are: a load balancer's checks need a few, and whoever else reaches the port holds no more. Raise the per-address one when many checkers come from one address (a NAT, a node's proxy); `0`: off",
  },
  healthMaxConnectionsPerAddress: { env: 'RSP_HEALTH_MAX_CONNECTIONS_PER_ADDRESS', schema: limit(10_000_000, 64), doc: 'open connections of the health port from one client address', row: 'healthMaxConnections' },
  headersTimeoutMs: {
    env: 'RSP_HEADERS_TIMEOUT_MS',
    schema: z.coerce.number().int().min(100).max(300_000).default(10_000),
    doc: "a connection whose request headers have not all come by then (a new connection that sends nothing too) is answered 408 and closed, on the gateway's port and the health port (Node's own is 60 s); an idle keep-alive connection and an upgraded WebSocket are not held to it",
  },
  requestBodyTimeoutMs: {
    env: 'RSP_REQUEST_BODY_TIMEOUT_MS',
    schema: z.coerce.number().int().min(100).max(3_600_000).default(300_000),
    doc: "a request whose body has not all come by then is answered 408 `REQUEST_TIMEOUT` and closed (Node's own limit), except an image upload by a valid token, which may take as long as it needs while it keeps sending",
  },
  uploadIdleTimeoutMs: { env: 'RSP_UPLOAD_IDLE_TIMEOUT_MS', schema: z.coerce.number().int().min(100).max(3_600_000).default(60_000), doc: 'an image upload, or the body of a peer site\'s store call (`POST /peer/store`), that sends nothing for this long is cut (it keeps nothing)', row: 'requestBodyTimeoutMs' },
  federationHeadersTimeoutMs: {
    env: 'RSP_FEDERATION_HEADERS_TIMEOUT_MS',
    schema: z.coerce.number().int().min(100).max(300_000).default(10_000),
    doc: '`rsp federate`: a request whose headers have not all come by then is cut (408, then closed); a request whose body has not all come within `RSP_FEDERATION_REQUEST_TIMEOUT_MS` too (slow clients hold no connection for long)',
  },
  federationRequestTimeoutMs: { env: 'RSP_FEDERATION_REQUEST_TIMEOUT_MS', schema: z.coerce.number().int().min(100).max(3_600_000).default(30_000), doc: '`rsp federate`: the time to receive a whole request, headers and body', row: 'federationHeadersTimeoutMs' },
  federationMaxConnections: {
    env: 'RSP_FEDERATION_MAX_CONNECTIONS',
    schema: limit(10_000_000, 4096),
    doc: '`rsp federate`: open connections (HTTP and graphql-ws) on the federation and per client address; over them a new connection is answered 503 (429 for one address) `RATE_LIMITED` and closed; `0`: off',
  },
  federationMaxConnectionsPerAddress: { env: 'RSP_FEDERATION_MAX_CONNECTIONS_PER_ADDRESS', schema: limit(10_000_000, 256), doc: '`rsp federate`: open connections from one client address', row: 'federationMaxConnections' },
  webDir: { env: 'RSP_WEB_DIR', schema: z.string().min(1).optional(), doc: 'the built dashboard served at `/`', shown: '`dist/web` of the package' },
  replicationIntervalMs: {
    env: 'RSP_REPLICATION_INTERVAL_MS',
    schema: z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns the scheduler off)').max(3_600_000).default(30_000),
    doc: 'how often the replication scheduler runs due policies (`0`: off)',
  },
  replicationMinIntervalMinutes: {
    env: 'RSP_REPLICATION_MIN_INTERVAL_MINUTES',
    schema: z.coerce.number().int().min(1).max(1440).default(5),
    doc: 'the shortest interval a replication schedule may have',
  },
  replicationRetryBaseMs: {
    env: 'RSP_REPLICATION_RETRY_BASE_MS',
    schema: z.coerce.number().int().min(1000).max(3_600_000).default(60_000),
    doc: 'wait before retrying a failed replication; doubles per failure, up to an hour',
  },
  replicaVerifyBytesPerSecond: {
    env: 'RSP_REPLICA_VERIFY_BYTES_PER_SECOND',
    schema: z.coerce.number().int().min(0).optional(),
    doc: "a fixed cap on how fast verify jobs read replicas' chunks (`0`: unlimited); unset, verify jobs pace themselves: as fast as the store's disk allows while its read latency stays near its baseline, halving their rate (down to `RSP_REPLICA_VERIFY_FLOOR_BYTES_PER_SECOND`) when it rises, so production I/O keeps priority (see *Verify jobs*)",
    shown: 'unset (adaptive)',
  },
  replicaVerifyFloorBytesPerSecond: {
    env: 'RSP_REPLICA_VERIFY_FLOOR_BYTES_PER_SECOND',
    schema: z.coerce.number().int().min(1024 * 1024, 'must be ≥ 1 MiB/s (1048576)').default(DEFAULT_VERIFY_FLOOR_BYTES_PER_SECOND),
    doc: 'the slowest an adaptive verify job reads when other I/O keeps it back',
  },
  replicaVerifyIntervalHours: {
    env: 'RSP_REPLICA_VERIFY_INTERVAL_HOURS',
    schema: z.coerce.number().min(0).max(576).default(0),
    doc: "verify (and repair) every store's replicas this often; 0: only on request (max 576)",
  },
  drivers: {
    env: 'RSP_DRIVERS',
    schema: z
      .union([z.array(z.string().min(1)), z.string().transform(splitList)])
      .refine((names) => names.every(isBuiltinDriver), { error: (issue) => `unknown driver "${(issue.input as string[]).find((n) => !isBuiltinDriver(n))}" (built in: ${BUILTIN_DRIVER_NAMES.join(', ')}; others come as plugins, RSP_PLUGINS)` })
      .optional(),
    doc: 'built-in drivers of the in-process host agent (`fake`: in-memory, for demos and tests); each is probed at start and shown by `{ drivers { name available reason } }`',
    shown: '`docker,lxc,libvirt,vserver`',
  },
  plugins: {
    env: 'RSP_PLUGINS',
    schema: z.union([z.array(z.string().min(1)), z.string().transform(splitList)]).default([]),
    doc: 'comma-separated plugin packages or paths; each driver plugin makes a driver for every host agent, `RSP_AGENTS` ones included',
  },
  pluginOptions: {
    env: 'RSP_PLUGIN_OPTIONS',
    schema: z
      .preprocess((v, ctx) => (typeof v === 'string' ? parseJsonObject(v, ctx) : v), z.record(z.string(), z.record(z.string(), z.unknown()), { message: 'must be a JSON object of plugin name → options object' }))
      .default({}),
    doc: 'JSON: plugin name → its options, e.g. `{"rsp-example-audit-log":{"file":"audit.jsonl"}}`',

    secret: true,
  },
  agents: {
    env: 'RSP_AGENTS',
    schema: z
      .union([z.array(z.string()), z.string().transform(splitList)])
      .default([])
      .transform((items, ctx) => items.map((item) => parseAgent(item, ctx))),
    doc: 'extra in-process host agents, `id[=dataDir]` comma-separated (data dir default `<RSP_DATA_DIR>/agents/<id>`): each runs its own instances of the `RSP_DRIVERS` drivers and of the driver plugins\' drivers, and serves the hosts registered with `agent: "<id>"` (see *Hosts, heartbeats, failover and migration*)',
  },
  agentTransport: {
    env: 'RSP_AGENT_TRANSPORT',
    schema: z.enum(['direct', 'loopback']).default('direct'),
    doc: '`loopback`: the gateway reaches its in-process agents through the agent protocol, every call and answer JSON-encoded (what a remote agent will get); for tests',
  },
  heartbeatMs: { env: 'RSP_HEARTBEAT_MS', schema: z.coerce.number().int().min(50).max(600_000).default(1000), doc: 'how often each connected host agent beats (`host.lastHeartbeatAt`)' },
  hostDownAfterMs: {
    env: 'RSP_HOST_DOWN_AFTER_MS',
    schema: z.coerce.number().int().min(100).max(3_600_000).default(3000),
    doc: 'an UP host silent longer than this is marked DOWN, fenced and failed over (must exceed `RSP_HEARTBEAT_MS`)',
  },
  hostRestartGraceMs: {
    env: 'RSP_HOST_RESTART_GRACE_MS',
    schema: z.coerce.number().int().min(100).max(3_600_000).optional(),
    doc: "for this long after a gateway starts, hosts last heard before its start are not judged DOWN (their agents' reconnection backoff grew while it was away); at least `RSP_HOST_DOWN_AFTER_MS`. Raise it when agents take longer to dial again (slow links)",
    shown: '`RSP_HOST_DOWN_AFTER_MS` + 30 s (the agents\' longest reconnection wait) + `RSP_HEARTBEAT_MS` + 10 s',
  },
  /** A second gateway claiming an id already served exits 2. */
  localAgentId: {
    env: 'RSP_LOCAL_AGENT_ID',
    schema: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/i, 'must be 1 to 100 letters, digits, dots, dashes or underscores').optional(),
    doc: "the id of the gateway's in-process agent; each gateway replica on one database needs its own (see *Several gateway replicas*)",
    shown: '`local`; with `REDIS_URL`: `local-` + the start of the installation id',
  },
  imageDir: { env: 'RSP_IMAGE_DIR', schema: z.string().min(1).optional(), doc: 'uploaded images (content and chunks); gateway replicas share one', shown: '`<RSP_DATA_DIR>/images`' },
  groupStorageBytes: {
    env: 'RSP_GROUP_STORAGE_BYTES',
    schema: z.coerce.number().int().min(1).optional(),
    doc: "bytes each group may keep in the gateway's stores: its images' content and the replicas the gateway keeps (uploads and replications past it: `CONFLICT`, reason `STORAGE_QUOTA`); the default of groups without a quota of their own (`setGroupStorageQuota`, `rsp group quota set`)",
    shown: '— (no limit)',
  },
  peerSites: {
    env: 'RSP_PEER_SITES',
    schema: z
      .union([z.array(z.string()), z.string().transform(splitList)])
      .default([])
      .transform((items, ctx) => items.map((item) => parsePeerSite(item, ctx))),
    doc: "the other sites this site may send requests to, `name=graphql-url` comma-separated (e.g. `b=https://site-b.example/graphql`): `importImage`'s `from` and a replication policy's `peer` must name one of them (FORBIDDEN, reason `PEER_NOT_ALLOWED`, otherwise) and are called at the URL listed here; use the names the federation gives the sites",
    shown: '— (none)',
  },
  peerTokenKeyFile: {
    env: 'RSP_PEER_TOKEN_KEY_FILE',
    schema: z.string().min(1).optional(),
    doc: "the 32-byte key sealing (AES-256-GCM) the tokens other sites issued that replication policies keep; made on first use; gateway replicas on one database share it",
    shown: '`<RSP_DATA_DIR>/secrets/peer-tokens.key`',
  },
  agentDirectoryTtlMs: {
    env: 'RSP_AGENT_DIRECTORY_TTL_MS',
    schema: z.coerce.number().int().min(100).max(600_000).default(10_000),
    doc: 'with `REDIS_URL`: life of an entry of the agent directory unless its replica refreshes it; a replica silent this long is gone',
  },
  relayMaxFrameBytes: {
    env: 'RSP_RELAY_MAX_FRAME_BYTES',
    schema: z.coerce.number().int().min(1024).max(512 * 1024 * 1024).default(16 * 1024 * 1024),
    doc: 'with `REDIS_URL`: the largest agent call or answer relayed between replicas',
  },
  relayCallTimeoutMs: {
    env: 'RSP_RELAY_CALL_TIMEOUT_MS',
    schema: z.coerce.number().int().min(1000).max(86_400_000).default(15 * 60_000),
    doc: 'with `REDIS_URL`: the deadline of an agent call relayed to another replica that was made without one; past it the call fails with `TIMEOUT` and is cancelled on the agent',
  },
  redisPrefix: {
    env: 'RSP_REDIS_PREFIX',
    schema: z.string().regex(/^[A-Za-z0-9:._-]{1,64}$/, 'must be 1 to 64 letters, digits, colons, dots, dashes or underscores').optional(),
    doc: "with `REDIS_URL`: the prefix of every Redis key and channel this installation uses, so installations sharing one Redis never see each other's events, agents or calls",
    shown: '`rsp:` + the start of the installation id + `:`',
  },
  placementSnapshotMs: {
    env: 'RSP_PLACEMENT_SNAPSHOT_MS',
    schema: z.coerce.number().int().min(0).max(600_000).default(DEFAULT_PLACEMENT_SNAPSHOT_MS),
    doc: 'placement decisions share one picture of the inventory, checked in the background this often; `0`: each decision reads the inventory afresh',
  },
  leaseSweepMs: { env: 'RSP_LEASE_SWEEP_MS', schema: z.coerce.number().int().min(100).max(3_600_000).default(10_000), doc: 'how often expired leases are swept' },
} as const satisfies Record<string, Setting>;

type Settings = typeof settings;

/** The name of a setting (its key in a config file). */
export type SettingKey = keyof Settings;

/** What every setting declares (see `settings`). */
interface Setting {
  env: string;
  schema: z.ZodType;
  doc: string;
  shown?: string;
  row?: string;
  secret?: boolean;
}

/** The validated configuration of one gateway. */
export type GatewayConfig = Omit<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }, 'graphiql' | 'introspection' | 'tlsCert' | 'tlsKey'> & {
  /** Absolute path of the TLS certificate (RSP_TLS_CERT), when HTTPS is served. */
  tlsCert?: string;
  /** Absolute path of its key (RSP_TLS_KEY). */
  tlsKey?: string;
  /** The GraphQL IDE is served (RSP_GRAPHIQL; default: NODE_ENV is not production). */
  graphiql: boolean;
  /** Anonymous callers may introspect (RSP_INTROSPECTION; default: NODE_ENV is not production). */
  introspection: boolean;
  /** Absolute path of the data directory. */
  dataDir: string;
  /** Extra in-process agents, each with its absolute data directory. */
  agents: Array<Required<AgentSetting>>;
  /** Absolute path of the artifact store's directory. */
  artifactDir: string;
  /** Absolute path of the image store's directory. */
  imageDir: string;
};

/** An extra in-process host agent: its id and (absolute, once loaded) data directory. */
export interface AgentSetting {
  id: string;
  /** Absent in the setting: `<RSP_DATA_DIR>/agents/<id>`. */
  dataDir?: string;
}

/** What an extra agent's id may be: it names its driver instances (`rsp-<id>-…` on the engines). */
export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** A configuration value was wrong; the message names each variable and what is wrong with it. */
export class ConfigError extends RspError {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      'BAD_USER_INPUT',
      `Invalid configuration:\n${problems.map(problemLine).join('\n')}`,
      { problems },
    );
  }
}

/** One configuration problem: the variable (or config file key), what is wrong with it, and a code for some (`PORT_IN_USE`…). */
export interface ConfigProblem {
  variable: string;
  problem: string;
  code?: string;
}

/** A problem as one indented line of a message: `  VARIABLE: problem [CODE]`. */
export function problemLine(p: ConfigProblem): string {
  return `  ${p.variable}: ${p.problem}${p.code ? ` [${p.code}]` : ''}`;
}

/** Where a setting's effective value came from. */
export type SettingSource = 'option' | 'env' | 'file' | 'default';

/** A setting as loaded: its key, variable and where its value came from. */
export interface SettingOrigin {
  key: SettingKey;
  variable: string;
  source: SettingSource;
}

/** What `inspectConfig` found: the configuration when every value is valid, each setting's origin, and every problem. */
export interface ConfigInspection {
  config?: GatewayConfig;
  origins: SettingOrigin[];
  problems: ConfigProblem[];
}

/**
 * Loads the configuration from `env` (default `process.env`) and the optional JSON file named by
 * `RSP_CONFIG`, then validates it. Throws `ConfigError` naming every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<SettingKey, unknown>> = {}): GatewayConfig {
  const { config, problems } = inspectConfig(env, overrides);
  if (!config) throw new ConfigError(problems);
  return config;
}

/**
 * Reads and validates the configuration as `loadConfig` does, but collects every problem (a bad
 * config file, each bad value, the checks across settings) instead of stopping at the first kind,
 * and tells where each setting came from (`overrides` are command-line options).
 */
export function inspectConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<SettingKey, unknown>> = {}): ConfigInspection {
  const problems: ConfigProblem[] = [];
  let fromFile: Record<string, unknown> = {};
  if (env.RSP_CONFIG) {
    try {
      fromFile = readConfigFile(env.RSP_CONFIG);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
  }
  const out: Record<string, unknown> = {};
  const origins: SettingOrigin[] = [];
  const failed = new Set<SettingKey>();
  for (const [key, setting] of Object.entries(settings) as Array<[SettingKey, Settings[SettingKey]]>) {
    const fromEnv = env[setting.env];
    const source: SettingSource = key in overrides ? 'option' : fromEnv !== undefined && fromEnv !== '' ? 'env' : key in fromFile ? 'file' : 'default';
    const raw = source === 'option' ? overrides[key] : source === 'env' ? fromEnv : source === 'file' ? relativeToFile(key, fromFile[key], dirname(resolve(env.RSP_CONFIG!))) : undefined;
    const variable = source === 'option' ? optionName(key) : source === 'env' ? setting.env : source === 'file' ? `${env.RSP_CONFIG} (${key})` : setting.env;
    origins.push({ key, variable: setting.env, source });
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else {
      failed.add(key);
      problems.push({ variable, problem: describe(parsed.error, maskedValue(key, raw)) });
    }
  }
  const valid = (...keys: SettingKey[]) => keys.every((k) => !failed.has(k));
  if (valid('heartbeatMs', 'hostDownAfterMs') && (out.heartbeatMs as number) >= (out.hostDownAfterMs as number)) {
    problems.push({ variable: 'RSP_HOST_DOWN_AFTER_MS', problem: `must be longer than RSP_HEARTBEAT_MS (${out.heartbeatMs as number}), else a healthy host is marked DOWN between two beats (got ${out.hostDownAfterMs as number})` });
  }
  if (valid('hostDownAfterMs', 'hostRestartGraceMs') && out.hostRestartGraceMs !== undefined && (out.hostRestartGraceMs as number) < (out.hostDownAfterMs as number)) {
    problems.push({ variable: 'RSP_HOST_RESTART_GRACE_MS', problem: `must be at least RSP_HOST_DOWN_AFTER_MS (${out.hostDownAfterMs as number}), else a restarted gateway judges hosts before their agents could be heard (got ${out.hostRestartGraceMs as number})` });
  }
  if (valid('tlsCert', 'tlsKey') && !out.tlsCert !== !out.tlsKey) {
    problems.push({ variable: out.tlsCert ? 'RSP_TLS_KEY' : 'RSP_TLS_CERT', problem: 'HTTPS needs both RSP_TLS_CERT and RSP_TLS_KEY (or neither, for plain HTTP)' });
  }
  if (problems.length) return { origins, problems };
  const config = out as GatewayConfig;
  const development = env.NODE_ENV !== 'production';
  config.graphiql ??= development;
  config.introspection ??= development;
  config.dataDir = resolve(config.dataDir);
  config.agents = config.agents.map((a) => ({ id: a.id, dataDir: resolve(a.dataDir ?? `${config.dataDir}/agents/${a.id}`) }));
  if (config.tlsCert) config.tlsCert = resolve(config.tlsCert);
  if (config.tlsKey) config.tlsKey = resolve(config.tlsKey);
  config.artifactDir = config.artifactDir ? resolve(config.artifactDir) : join(config.dataDir, 'artifacts');
  config.imageDir = config.imageDir ? resolve(config.imageDir) : join(config.dataDir, 'images');
  return { config, origins, problems };
}

/** One row of the README's configuration table for each setting not shown in another's row. */
export function settingsTable(): Array<{ variables: string[]; shown: string; doc: string }> {
  const entries = Object.entries(settings) as Array<[SettingKey, Setting]>;
  return entries
    .filter(([, s]) => !s.row)
    .map(([key, leader]) => {
      const members = [leader, ...entries.filter(([, s]) => s.row === key).map(([, s]) => s)];
      const shown = members.map(shownDefault);
      return { variables: members.map((s) => s.env), shown: shown.every((d) => d === '—') ? '—' : shown.join(' '), doc: leader.doc };
    });
}

/** A setting's variable, meaning and default as the README's table shows them. */
export function settingInfo(key: SettingKey): { env: string; doc: string; shown: string } {
  const setting: Setting = settings[key];
  return { env: setting.env, doc: setting.doc, shown: shownDefault(setting) };
}

/**
 * `value` of setting `key` fit to show. For a secret setting: the password of a URL
 * (`scheme://user:password@…`, `?password=…`) is replaced by `****`, and in an object (plugin options) so is the
 * value of every key that names a secret (password, token, key, credential…), at any depth.
 */
export function maskedValue(key: SettingKey, value: unknown): unknown {
  const setting: Setting = settings[key];
  return setting.secret ? masked(value) : value;
}

/** `value` with URL passwords (and secret query parameters) and the values of secret-named keys replaced by `****`. */
function masked(value: unknown): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) && v !== null && v !== undefined ? SECRET_MASK : masked(v)]));
  return value;
}

/** The default as the table shows it: `shown`, else the schema's default value (— for none). */
function shownDefault(setting: Setting): string {
  if (setting.shown) return setting.shown;
  const parsed = setting.schema.safeParse(undefined);
  const value: unknown = parsed.success ? parsed.data : undefined;
  if (value === undefined || (Array.isArray(value) && !value.length) || (typeof value === 'object' && value !== null && !Object.keys(value).length)) return '—';
  if (typeof value === 'boolean') return value ? '`on`' : '`off`';
  return `\`${String(value)}\``;
}

/**
 * The config file's settings by key. A setting may be named by its key (`port`) or by its
 * variable (`PORT`), not both; an unknown name is refused with the nearest known one.
 */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ variable: 'RSP_CONFIG', problem: `cannot read ${path}: ${(e as Error).message}` }]);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
    const byVariable = new Map((Object.entries(settings) as Array<[SettingKey, Setting]>).map(([key, s]) => [s.env, key]));
    const out: Record<string, unknown> = {};
    const unknown: string[] = [];
    for (const [name, v] of Object.entries(value)) {
      const key = name in settings ? (name as SettingKey) : byVariable.get(name);
      if (!key) unknown.push(`${name}${suggestion(name, name === name.toUpperCase() ? [...byVariable.keys()] : Object.keys(settings))}`);
      else if (key in out) throw new Error(`${key} is set twice (as ${key} and as ${settings[key].env})`);
      else out[key] = v;
    }
    if (unknown.length) throw new Error(`unknown keys ${unknown.join(', ')} (a setting is named by its key, e.g. port, or its variable, e.g. PORT: see the README's configuration table)`);
    return out;
  } catch (e) {
    throw new ConfigError([{ variable: 'RSP_CONFIG', problem: `${path} is not a valid config file: ${(e as Error).message}` }]);
  }
}

/** The settings that are one file or folder path. */
const PATH_SETTINGS: ReadonlySet<SettingKey> = new Set<SettingKey>(['dataDir', 'artifactDir', 'imageDir', 'tlsCert', 'tlsKey', 'webDir', 'peerTokenKeyFile']);

/** A plugin named by a path (`./x`, `../x`, absolute), not a package. */
function isPathSpecifier(specifier: string): boolean {
  return isAbsolute(specifier) || specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

/**
 * A config file's value of setting `key` with its relative paths made absolute against the file's
 * folder `dir` (the file goes with what it names, wherever `rsp serve` is started): the path
 * settings, the plugins named by a path, and the in-process agents' data folders. Other values,
 * and values of another type (refused by the schema next), are as written.
 */
function relativeToFile(key: SettingKey, value: unknown, dir: string): unknown {
  if (PATH_SETTINGS.has(key)) return typeof value === 'string' && value ? resolve(dir, value) : value;
  if (key === 'plugins') {
    const list = typeof value === 'string' ? splitList(value) : value;
    return Array.isArray(list) ? list.map((p: unknown) => (typeof p === 'string' && isPathSpecifier(p) ? resolve(dir, p) : p)) : value;
  }
  if (key === 'agents') {
    const list = typeof value === 'string' ? splitList(value) : value;
    if (!Array.isArray(list)) return value;
    return list.map((a: unknown) => {
      if (typeof a !== 'string' || !a.includes('=')) return a;
      const at = a.indexOf('=');
      const folder = a.slice(at + 1).trim();
      return folder ? `${a.slice(0, at)}=${resolve(dir, folder)}` : a;
    });
  }
  return value;
}

/** Variables named RSP_… that RSP reads besides the settings: the CLI's, the agent unit's, the drivers'. */
const OTHER_VARIABLES = new Set(['RSP_CONFIG', 'RSP_URL', 'RSP_TOKEN', 'RSP_CA_FILE', 'RSP_CLI_CONFIG', 'RSP_TOP_REFRESH_MS', 'RSP_GATEWAY', 'RSP_AGENT_TOKEN', 'RSP_AGENT_ARGS', 'RSP_CONFORMANCE']);

/** Prefixes of further variables RSP reads: the libvirt driver's options, the tests' pins. */
const OTHER_PREFIXES = ['RSP_LIBVIRT_', 'RSP_TEST_'];

/**
 * The variables of `env` named `RSP_…` that RSP does not read — a typo leaves its setting at the
 * default without a word — each with the nearest setting's variable when one is close.
 */
export function unknownVariables(env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  const known = (Object.values(settings) as Setting[]).map((s) => s.env);
  return Object.keys(env)
    .filter((name) => name.startsWith('RSP_') && !known.includes(name) && !OTHER_VARIABLES.has(name) && !OTHER_PREFIXES.some((p) => name.startsWith(p)))
    .sort()
    .map((name) => ({ variable: name, problem: `is not a variable RSP reads${suggestion(name, known) || ': see the README\'s configuration table'}` }));
}

/** ` (did you mean X?)` for the candidate nearest to `name` (case aside), when it is close; else ''. */
function suggestion(name: string, candidates: string[]): string {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean ${best.candidate}?)` : '';
}

/** Levenshtein distance between `a` and `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

function describe(error: z.ZodError, raw: unknown): string {
  const issue = error.issues[0];
  const shown = typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw);
  return `${issue ? issueText(issue) : 'invalid value'} (got ${shown})`;
}

/** What is wrong, in words: a number setting given no number says so (zod's own says `expected number, received NaN`). */
function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.expected === 'number') return 'is not a number';
  return issue.message;
}

function parseJsonObject(value: string, ctx: z.RefinementCtx): unknown {
  try {
    return JSON.parse(value);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `is not valid JSON: ${(e as Error).message}` });
    return z.NEVER;
  }
}

function parseAgent(item: string | AgentSetting, ctx: z.RefinementCtx): AgentSetting {
  if (typeof item !== 'string') return item;
  const [id = '', ...rest] = item.split('=');
  const dataDir = rest.join('=').trim();
  if (!AGENT_ID_PATTERN.test(id.trim()) || id.trim() === 'local') ctx.addIssue({ code: 'custom', message: `"${id}" is not an agent id: a-z, 0-9 and -, at most 32, not "local"` });
  return dataDir ? { id: id.trim(), dataDir } : { id: id.trim() };
}

/** One `name=url` entry of RSP_PEER_SITES: a site name and an http(s) URL. */
function parsePeerSite(item: string | { name: string; url: string }, ctx: z.RefinementCtx): { name: string; url: string } {
  if (typeof item !== 'string') return item;
  const at = item.indexOf('=');
  const name = item.slice(0, at).trim();
  const url = item.slice(at + 1).trim();
  if (at < 1 || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) ctx.addIssue({ code: 'custom', message: `"${item}" is not name=url with a site name of lowercase letters, digits and dashes` });
  else if (!httpOrigin(url)) ctx.addIssue({ code: 'custom', message: `"${url}" (site ${name}) is not an http(s) URL` });
  return { name, url };
}

/** The command-line option that sets `key` (`--data-dir` for `dataDir`), as messages name it. */
function optionName(key: SettingKey): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function optionalFlag() {
  return z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === true || v === 'true' || v === '1' || v === 'yes'));
}

/** An on/off setting (true/false, 1/0, yes/no, on/off) with its default. */
function flag(fallback: boolean) {
  return z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])])
    .default(fallback)
    .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on');
}

/**
 * The operation limits as a site reads them (RSP_MAX_QUERY_DEPTH, …ALIASES, …TOKENS,
 * …DIRECTIVES, …COST, RSP_MAX_BATCH_ITEMS, the same defaults), from `env` alone: for a process
 * that is not a site, `rsp federate`. ConfigError naming every variable whose value is not a limit.
 */
export function operationLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<GatewayConfig, 'maxQueryDepth' | 'maxQueryAliases' | 'maxQueryTokens' | 'maxQueryDirectives' | 'maxQueryCost' | 'maxBatchItems'> {
  return settingsFromEnv(['maxQueryDepth', 'maxQueryAliases', 'maxQueryTokens', 'maxQueryDirectives', 'maxQueryCost', 'maxBatchItems'] as const, env);
}

/**
 * Some settings read from `env` alone, with their defaults: for a process that is not a site
 * (`rsp federate`). ConfigError naming every variable whose value is not valid.
 */
export function settingsFromEnv<K extends SettingKey>(keys: readonly K[], env: NodeJS.ProcessEnv = process.env): { [P in K]: z.output<Settings[P]['schema']> } {
  const problems: ConfigProblem[] = [];
  const values = Object.fromEntries(
    keys.map((key) => {
      const setting = settings[key] as { env: string; schema: z.ZodType };
      const parsed = setting.schema.safeParse(env[setting.env] === '' ? undefined : env[setting.env]);
      if (!parsed.success) problems.push({ variable: setting.env, problem: parsed.error.issues.map(issueText).join('; ') });
      return [key, parsed.success ? parsed.data : 0];
    }),
  );
  if (problems.length) throw new ConfigError(problems);
  return values as { [P in K]: z.output<Settings[P]['schema']> };
}

/** A whole-number limit from 0 (off) to `max`. */
function limit(max: number, fallback: number) {
  return z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns the limit off)').max(max).default(fallback);
}
