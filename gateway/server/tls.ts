import { createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';
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
 * The `createServer` options of the headers' time limit (`RSP_HEADERS_TIMEOUT_MS`): Node checks it
 * every `connectionsCheckingInterval` (30 s by default, which would let a connection that sends
 * nothing stay up to 30 s past it), here a tenth of it (at most 1 s).
 */
function headerTimeouts(headersTimeoutMs: number | undefined): { headersTimeout?: number; connectionsCheckingInterval?: number } {
  if (headersTimeoutMs === undefined) return {};
  return { headersTimeout: headersTimeoutMs, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 10))) };
}

/**
 * Creates the server for `handler`: HTTPS when RSP_TLS_CERT and RSP_TLS_KEY are set (both PEM
 * files; the certificate file may hold the chain), else HTTP, with the headers' time limit
 * (`headersTimeoutMs`; Node's 60 s when not given). Unreadable or mismatched files are a
 * ConfigError naming the setting.
 */
export function createListener(config: Pick<GatewayConfig, 'tlsCert' | 'tlsKey'> & { headersTimeoutMs?: number }, handler: RequestListener): Listener {
  const timeouts = headerTimeouts(config.headersTimeoutMs);
  if (!config.tlsCert || !config.tlsKey) {
    const server = createHttpServer(timeouts, handler);
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    return { server, scheme: 'http', reloadCertificates: () => undefined };
  }
  const files = { cert: config.tlsCert, key: config.tlsKey };
  const server = createHttpsServer({ ...readCertificates(files), ...timeouts }, handler) as HttpsServer;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return {
    server: server as unknown as Server,
    scheme: 'https',
    reloadCertificates: () => server.setSecureContext(readCertificates(files)),
  };
}

/**
 * What `createListener` would refuse about the TLS files (unreadable, not PEM, the certificate
 * expired, or key and certificate not a pair), without serving anything: none without TLS.
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

/**
 * Reads and checks the PEM files: a certificate that is not expired, a private key, and the key
 * of that certificate. Each problem names its setting.
 */
function readCertificates(files: { cert: string; key: string }, now = new Date()): SecureContextOptions {
  const problems: ConfigProblem[] = [];
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      problems.push({ variable, problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return undefined;
    }
  };
  const cert = read('RSP_TLS_CERT', files.cert);
  const key = read('RSP_TLS_KEY', files.key);
  let certificate: X509Certificate | undefined;
  let privateKey: KeyObject | undefined;
  if (cert) {
    try {
      certificate = new X509Certificate(cert);
    } catch (e) {
      problems.push({ variable: 'RSP_TLS_CERT', problem: `${files.cert} is not a PEM certificate (${(e as Error).message})` });
    }
  }
  if (certificate && new Date(certificate.validTo) < now) problems.push({ variable: 'RSP_TLS_CERT', problem: `${files.cert} expired on ${new Date(certificate.validTo).toISOString()}: renew it` });
  if (key) {
    try {
      privateKey = createPrivateKey(key);
    } catch (e) {
      problems.push({ variable: 'RSP_TLS_KEY', problem: `${files.key} is not a PEM private key without a passphrase (${(e as Error).message})` });
    }
  }
  if (certificate && privateKey && !certificate.checkPrivateKey(privateKey)) problems.push({ variable: 'RSP_TLS_KEY', problem: `${files.key} is not the key of the certificate ${files.cert}` });
  if (problems.length) throw new ConfigError(problems);
  const options = { cert: cert!, key: key! };
  try {
    createSecureContext(options);
  } catch (e) {
    throw new ConfigError([{ variable: 'RSP_TLS_KEY', problem: `${files.key} and the certificate ${files.cert} do not make a usable pair: ${(e as Error).message}` }]);
  }
  return options;
}
