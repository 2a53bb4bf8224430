import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, ExitCode } from './exit-codes';

/** What `rsp login` stores: where the gateway is, the token, and who that token is. */
export interface StoredConfig {
  url?: string;
  token?: string;
  /** The token's group, the default of every `--group` option. */
  groupId?: string | null;
}

/** Where to reach the gateway and as whom, after flags, environment and config file. */
export interface Connection {
  /** The gateway's base URL, e.g. `http://localhost:4000` (no `/graphql`). */
  url: string;
  token: string | undefined;
  groupId: string | undefined;
}

/** The config file: RSP_CLI_CONFIG, else `$XDG_CONFIG_HOME/rsp/config.json`, else `~/.config/rsp/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RSP_CLI_CONFIG) return env.RSP_CLI_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'rsp', 'config.json');
}

/** Reads the config file; an absent file is an empty config, a broken one is a usage error. */
export function readStoredConfig(path = configPath()): StoredConfig {
  if (!existsSync(path)) return {};
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object') throw new Error('not a JSON object');
    return parsed as StoredConfig;
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
}

/** Writes the config file readable by its owner only (mode 0600, folder 0700): it holds a token. */
export function writeStoredConfig(config: StoredConfig, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Strips a trailing `/` or `/graphql` so the base URL serves both GraphQL and uploads. */
export function normalizeUrl(url: string): string {
  let base = url.trim().replace(/\/+$/, '');
  if (base.endsWith('/graphql')) base = base.slice(0, -'/graphql'.length);
  try {
    const parsed = new URL(base);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(`not a gateway URL: "${url}" (expected e.g. http://localhost:4000)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
  }
  return base;
}

/** Resolves the connection: flags first, then RSP_URL/RSP_TOKEN, then the config file. */
export function resolveConnection(flags: { url?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Connection {
  const stored = readStoredConfig(configPath(env));
  const url = flags.url || env.RSP_URL || stored.url;
  if (!url) throw new CliError('no gateway URL: pass --url, set RSP_URL or run "rsp login --url URL --token TOKEN"', 'BAD_USAGE', ExitCode.BAD_USAGE);
  const token = flags.token || env.RSP_TOKEN || stored.token || undefined;
  // The stored group belongs to the stored token only.
  const groupId = token === stored.token ? stored.groupId ?? undefined : undefined;
  return { url: normalizeUrl(url), token, groupId };
}
