import type { Command } from 'commander';
import type { SettingKey } from '../config/config';

/** The options of `rsp serve` that set a setting (`rsp config check` takes the same ones). */
export interface ServeOptions {
  port?: string;
  host?: string;
  dataDir?: string;
  bootstrap: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

/** Adds the setting options of `rsp serve` to `command`. */
export function addServeOptions(command: Command): Command {
  return command
    .option('-p, --port <port>', 'port to listen on (env PORT)')
    .option('--host <host>', 'address to listen on (env RSP_HOST)')
    .option('--data-dir <dir>', 'where the embedded database and artifacts live (env RSP_DATA_DIR)')
    .option('--no-bootstrap', 'do not set this machine up on the first start of an empty database (env RSP_BOOTSTRAP=off)')
    .option('--tls-cert <file>', 'serve HTTPS and WSS with this PEM certificate (and chain); SIGHUP reloads it (env RSP_TLS_CERT)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (env RSP_TLS_KEY)');
}

/** The settings those options override (options win over the environment and the config file). */
export function serveOverrides(opts: ServeOptions): Partial<Record<SettingKey, unknown>> {
  return {
    ...(opts.tlsCert !== undefined ? { tlsCert: opts.tlsCert } : {}),
    ...(opts.tlsKey !== undefined ? { tlsKey: opts.tlsKey } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.bootstrap === false ? { bootstrap: false } : {}),
  };
}
