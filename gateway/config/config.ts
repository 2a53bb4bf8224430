import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { RspError } from '../errors';

/**
 * Every setting of the gateway, with the environment variable that sets it.
 * A config file (JSON, `RSP_CONFIG=path`) may set the same keys; environment variables win.
 */
const settings = {
  port: { env: 'PORT', schema: z.coerce.number().int().min(0).max(65535).default(4000) },
  host: { env: 'RSP_HOST', schema: z.string().min(1).default('127.0.0.1') },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  },
  dataDir: { env: 'RSP_DATA_DIR', schema: z.string().min(1).default('.rsp/data') },
  /** Where uploaded images are kept (content and chunks); default `<RSP_DATA_DIR>/images`. Gateway replicas share one. */
  imageDir: { env: 'RSP_IMAGE_DIR', schema: z.string().min(1).optional() },
  /** Where the artifact store keeps chunks and manifests; default `<RSP_DATA_DIR>/artifacts`. */
  artifactDir: { env: 'RSP_ARTIFACT_DIR', schema: z.string().min(1).optional() },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  },
  logFormat: { env: 'LOG_FORMAT', schema: z.enum(['pretty', 'json']).optional() },
  redisUrl: {
    env: 'REDIS_URL',
    schema: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  },
  metricsIntervalMs: { env: 'RSP_METRICS_INTERVAL_MS', schema: z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns sampling off)').max(3_600_000).default(1000) },
  /** The host record that is this machine (its id or hostname): the only one the in-process agent's host samples are attributed to. */
  localHost: { env: 'RSP_LOCAL_HOST', schema: z.string().min(1).default(hostname()) },
  subscriberBuffer: { env: 'RSP_SUBSCRIBER_BUFFER', schema: z.coerce.number().int().min(1).max(100_000).default(100) },
  siteName: { env: 'RSP_SITE_NAME', schema: z.string().min(1).default(hostname()) },
  /** The GraphQL IDE on `GET /graphql`; default: on unless NODE_ENV=production. */
  graphiql: { env: 'RSP_GRAPHIQL', schema: optionalFlag() },
  /** Introspection (`__schema`, `__type`, `_service`) without a token; default: on unless NODE_ENV=production. Tokens may always introspect. */
  introspection: { env: 'RSP_INTROSPECTION', schema: optionalFlag() },
  /** Deepest field nesting of an operation (introspection fields not counted); 0: no limit. */
  maxQueryDepth: { env: 'RSP_MAX_QUERY_DEPTH', schema: limit(1000, 15) },
  /** Aliased fields in an operation's document; 0: no limit. */
  maxQueryAliases: { env: 'RSP_MAX_QUERY_ALIASES', schema: limit(100_000, 50) },
  /** Lexical tokens in an operation's document; 0: no limit. */
  maxQueryTokens: { env: 'RSP_MAX_QUERY_TOKENS', schema: limit(10_000_000, 5000) },
  /** Directives in an operation's document; 0: no limit. */
  maxQueryDirectives: { env: 'RSP_MAX_QUERY_DIRECTIVES', schema: limit(100_000, 50) },
  /** An operation's estimated cost (fields times the list sizes they return: `first`, batch lengths); 0: no limit. */
  maxQueryCost: { env: 'RSP_MAX_QUERY_COST', schema: limit(1e12, 40_000_000) },
  /** Items of the list arguments of one operation's fields together (e.g. `allocateMany` requests over all aliases); 0: no limit. */
  maxBatchItems: { env: 'RSP_MAX_BATCH_ITEMS', schema: limit(10_000_000, 1000) },
  /** Queries per minute per token (anonymous ones: per client address); 0: no limit. */
  rateQueriesPerMinute: { env: 'RSP_RATE_QUERIES_PER_MINUTE', schema: limit(10_000_000, 6000) },
  /** Mutations per minute per token (anonymous ones: per client address); 0: no limit. */
  rateMutationsPerMinute: { env: 'RSP_RATE_MUTATIONS_PER_MINUTE', schema: limit(10_000_000, 3000) },
  /** New graphql-ws sockets per minute per client address; 0: no limit. */
  rateSocketsPerMinute: { env: 'RSP_RATE_SOCKETS_PER_MINUTE', schema: limit(10_000_000, 600) },
  /** Open graphql-ws sockets per client address; 0: no limit. */
  maxSocketsPerAddress: { env: 'RSP_MAX_SOCKETS_PER_ADDRESS', schema: limit(10_000_000, 256) },
  /** Open graphql-ws sockets without a token, over all addresses; 0: no limit. */
  maxAnonymousSockets: { env: 'RSP_MAX_ANONYMOUS_SOCKETS', schema: limit(10_000_000, 100) },
  /** Running subscriptions (and operations) per graphql-ws socket; 0: no limit. */
  maxSubscriptionsPerSocket: { env: 'RSP_MAX_SUBSCRIPTIONS_PER_SOCKET', schema: limit(100_000, 100) },
  plugins: {
    env: 'RSP_PLUGINS',
    schema: z
      .union([z.array(z.string().min(1)), z.string().transform(splitList)])
      .default([]),
  },
  pluginOptions: {
    env: 'RSP_PLUGIN_OPTIONS',
    schema: z
      .preprocess((v, ctx) => (typeof v === 'string' ? parseJsonObject(v, ctx) : v), z.record(z.string(), z.record(z.string(), z.unknown()), { message: 'must be a JSON object of plugin name → options object' }))
      .default({}),
  },
  /** 0: each placement decision reads the inventory afresh; above 0: one shared picture at most this many ms old. */
  placementSnapshotMs: { env: 'RSP_PLACEMENT_SNAPSHOT_MS', schema: z.coerce.number().int().min(0).max(600_000).default(0) },
  /** How often expired leases are swept (ms). */
  leaseSweepMs: { env: 'RSP_LEASE_SWEEP_MS', schema: z.coerce.number().int().min(100).max(3_600_000).default(10_000) },
  /** The built dashboard's folder (default: dist/web of the package). */
  webDir: { env: 'RSP_WEB_DIR', schema: z.string().min(1).optional() },
  /**
   * Extra in-process host agents, `id[=dataDir]` separated by commas: each runs its own instances
   * of the built-in drivers (RSP_DRIVERS) under its own data directory (default
   * `<RSP_DATA_DIR>/agents/<id>`) and serves the hosts whose `agent` is its id.
   */
  agents: {
    env: 'RSP_AGENTS',
    schema: z
      .union([z.array(z.string()), z.string().transform(splitList)])
      .default([])
      .transform((items, ctx) => items.map((item) => parseAgent(item, ctx))),
  },
  /**
   * How the gateway reaches its in-process agents: `direct` (method calls) or `loopback` (every
   * call and answer JSON-encoded through the agent protocol, as a remote agent would get them).
   */
  agentTransport: { env: 'RSP_AGENT_TRANSPORT', schema: z.enum(['direct', 'loopback']).default('direct') },
  /**
   * The id of the gateway's in-process agent (hosts name it in `agent`). Default: `local` for a
   * single gateway; with REDIS_URL (replicas), `local-` and the start of the installation id kept
   * in the database. Gateway replicas on one database each need their own: a second gateway
   * claiming an id already served exits 2.
   */
  localAgentId: { env: 'RSP_LOCAL_AGENT_ID', schema: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/i, 'must be 1 to 100 letters, digits, dots, dashes or underscores').optional() },
  /** With several gateway replicas (REDIS_URL): how long an entry of the agent directory lives unless its replica refreshes it (ms). */
  agentDirectoryTtlMs: { env: 'RSP_AGENT_DIRECTORY_TTL_MS', schema: z.coerce.number().int().min(100).max(600_000).default(10_000) },
  /** With several gateway replicas: the largest agent call or answer relayed between them over Redis (bytes). */
  relayMaxFrameBytes: { env: 'RSP_RELAY_MAX_FRAME_BYTES', schema: z.coerce.number().int().min(1024).max(512 * 1024 * 1024).default(16 * 1024 * 1024) },
  /** How often connected agents report a heartbeat (ms). */
  heartbeatMs: { env: 'RSP_HEARTBEAT_MS', schema: z.coerce.number().int().min(50).max(600_000).default(1000) },
  /** A host silent this long (ms) after its last heartbeat is marked DOWN, fenced and failed over. */
  hostDownAfterMs: { env: 'RSP_HOST_DOWN_AFTER_MS', schema: z.coerce.number().int().min(100).max(3_600_000).default(3000) },
  /** How often the replication scheduler looks for due policies (ms); 0 turns it off. */
  replicationIntervalMs: { env: 'RSP_REPLICATION_INTERVAL_MS', schema: z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns the scheduler off)').max(3_600_000).default(30_000) },
  /** The shortest interval a replication schedule may have (minutes). */
  replicationMinIntervalMinutes: { env: 'RSP_REPLICATION_MIN_INTERVAL_MINUTES', schema: z.coerce.number().int().min(1).max(1440).default(5) },
  /** Wait before the first retry of a failed replication (ms); it doubles per failure up to one hour. */
  replicationRetryBaseMs: { env: 'RSP_REPLICATION_RETRY_BASE_MS', schema: z.coerce.number().int().min(1000).max(3_600_000).default(60_000) },
  drivers: {
    env: 'RSP_DRIVERS',
    schema: z
      .union([z.array(z.string().min(1)), z.string().transform(splitList)])
      .optional(),
  },
} as const;

type Settings = typeof settings;

/** The validated configuration of one gateway. */
export type GatewayConfig = Omit<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }, 'graphiql' | 'introspection'> & {
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
  constructor(readonly problems: Array<{ variable: string; problem: string }>) {
    super(
      'BAD_USER_INPUT',
      `Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n')}`,
      { problems },
    );
  }
}

/**
 * Loads the configuration from `env` (default `process.env`) and the optional JSON file named by
 * `RSP_CONFIG`, then validates it. Throws `ConfigError` naming every bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Settings, unknown>> = {}): GatewayConfig {
  const fromFile = env.RSP_CONFIG ? readConfigFile(env.RSP_CONFIG) : {};
  const problems: Array<{ variable: string; problem: string }> = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings) as Array<[keyof Settings, Settings[keyof Settings]]>) {
    const fromEnv = env[setting.env];
    const raw = key in overrides ? overrides[key] : fromEnv !== undefined && fromEnv !== '' ? fromEnv : fromFile[key];
    const source = key in overrides ? key : fromEnv !== undefined && fromEnv !== '' ? setting.env : `${env.RSP_CONFIG} (${key})`;
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push({ variable: source, problem: describe(parsed.error, raw) });
  }
  if (problems.length) throw new ConfigError(problems);
  const config = out as GatewayConfig;
  const development = env.NODE_ENV !== 'production';
  config.graphiql ??= development;
  config.introspection ??= development;
  config.dataDir = resolve(config.dataDir);
  config.agents = config.agents.map((a) => ({ id: a.id, dataDir: resolve(a.dataDir ?? `${config.dataDir}/agents/${a.id}`) }));
  if (config.heartbeatMs >= config.hostDownAfterMs) throw new ConfigError([{ variable: 'RSP_HOST_DOWN_AFTER_MS', problem: `must be longer than RSP_HEARTBEAT_MS (${config.heartbeatMs}), else a healthy host is marked DOWN between two beats (got ${config.hostDownAfterMs})` }]);
  config.artifactDir = config.artifactDir ? resolve(config.artifactDir) : join(config.dataDir, 'artifacts');
  config.imageDir = config.imageDir ? resolve(config.imageDir) : join(config.dataDir, 'images');
  return config;
}

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
    const known = new Set(Object.keys(settings));
    const unknown = Object.keys(value).filter((k) => !known.has(k));
    if (unknown.length) throw new Error(`unknown keys ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
    return value as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError([{ variable: 'RSP_CONFIG', problem: `${path} is not a valid config file: ${(e as Error).message}` }]);
  }
}

function describe(error: z.ZodError, raw: unknown): string {
  const issue = error.issues[0];
  const shown = typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw);
  return `${issue?.message ?? 'invalid value'} (got ${shown})`;
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

/** A whole-number limit from 0 (off) to `max`. */
function limit(max: number, fallback: number) {
  return z.coerce.number().int().min(0, 'must be ≥ 0 (0 turns the limit off)').max(max).default(fallback);
}
