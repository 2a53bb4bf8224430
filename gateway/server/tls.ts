import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, RequestListener, Server } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { createSecureContext, SecureContextOptions } from 'node:tls';
import { ConfigError, ConfigProblem, GatewayConfig } from '../config/config';

/**
 * How long an idle keep-alive connection stays open (Node's default is 5 s). Clients (fetch,
 * proxies) drop theirs a little earlier; with only Node's 1 s margin, a busy event loop closes a
 * connection as a client sends on it, and a streamed upload fails with ECONNRESET, which cannot be
 * retried. A wide margin keeps the client the one that closes.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** The gateway's listening server: plain HTTP, or HTTPS (and WSS) with the configured certificate. */
export interface Listener {
  server: Server;
  /** `http` or `https` (the WebSocket scheme follows: `ws` or `wss`). */
  scheme: 'http' | 'https';
  /** Reads the certificate and key files again for new connections (a renewed certificate); no-op without TLS. */
  reloadCertificates(): void;
}

/**
 * Creates the server for `handler`: HTTPS when RSP_TLS_CERT and RSP_TLS_KEY are set (both PEM
 * files; the certificate file may hold the chain), else HTTP. Unreadable or mismatched files are a
 * ConfigError naming the setting.
 */
export function createListener(config: Pick<GatewayConfig, 'tlsCert' | 'tlsKey'>, handler: RequestListener): Listener {
  if (!config.tlsCert || !config.tlsKey) {
    const server = createHttpServer(handler);
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    return { server, scheme: 'http', reloadCertificates: () => undefined };
  }
  const files = { cert: config.tlsCert, key: config.tlsKey };
  const server = createHttpsServer(readCertificates(files), handler) as HttpsServer;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return {
    server: server as unknown as Server,
    scheme: 'https',
    reloadCertificates: () => server.setSecureContext(readCertificates(files)),
  };
}

/**
 * What `createListener` would refuse about the TLS files (unreadable, or key and certificate not
 * a pair), without serving anything: none without TLS.
 */
export function certificateProblems(config: Pick<GatewayConfig, 'tlsCert' | 'tlsKey'>): ConfigProblem[] {
  if (!config.tlsCert || !config.tlsKey) return [];
  try {
    readCertificates({ cert: config.tlsCert, key: config.tlsKey });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** Reads and checks the PEM files (the key must match the certificate). */
function readCertificates(files: { cert: string; key: string }): SecureContextOptions {
  const problems: ConfigProblem[] = [];
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      problems.push({ variable, problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return Buffer.alloc(0);
    }
  };
  const options = { cert: read('RSP_TLS_CERT', files.cert), key: read('RSP_TLS_KEY', files.key) };
  if (problems.length) throw new ConfigError(problems);
  try {
    createSecureContext(options);
  } catch (e) {
    throw new ConfigError([{ variable: 'RSP_TLS_KEY', problem: `${files.key} and the certificate ${files.cert} do not make a usable pair: ${(e as Error).message}` }]);
  }
  return options;
}
