import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logging/logger';

/** Open connections a port takes, at most: in all and from one client address (0: no bound). */
export interface ConnectionCaps {
  total: number;
  perAddress: number;
}

/** Which bound refused a connection (the label of `rsp_http_connections_refused_total`). */
export type ConnectionCapLimit = 'total' | 'per_address';

/** What a capped port tells about its connections: one is open, one closed, one refused. */
export interface ConnectionCapWatcher {
  opened?(): void;
  closed?(): void;
  refused?(limit: ConnectionCapLimit): void;
}

/** How long refusals are counted before one line reports them (ms): the first of a burst is logged at once, with its context. */
const REPORT_WINDOW_MS = 10_000;

/**
 * Bounds the connections `server` holds open: HTTP requests, keep-alive connections and upgraded
 * WebSockets alike (subscriptions, exec sessions, host agents), on every listening socket of the
 * port (the extra ones of accept-handles.ts hand theirs over as 'connection', which Node's own
 * `server.maxConnections` does not count). A connection over `caps` is closed as it comes, before
 * a byte of it is read or a TLS handshake begins: its client sees the connection reset and may try
 * again. The first refusal of a burst is logged with its context (port, address, the bound, what
 * is open), the rest of it as one count per REPORT_WINDOW_MS; each is counted in `watcher`.
 */
export function capConnections(server: Server, port: string, caps: ConnectionCaps, logger: Logger, watcher: ConnectionCapWatcher = {}): { open(): number } {
  let open = 0;
  const byAddress = new Map<string, number>();
  let reported = 0;
  let window: NodeJS.Timeout | undefined;
  const report = (limit: ConnectionCapLimit, address: string) => {
    if (window) {
      reported++;
      return;
    }
    logger.warn({ port, address, limit, open, fromAddress: byAddress.get(address) ?? 0, caps }, 'refused a connection: the port holds as many as it takes');
    window = setTimeout(() => {
      window = undefined;
      if (reported) logger.warn({ port, refused: reported, windowSeconds: REPORT_WINDOW_MS / 1000, open, caps }, 'more connections refused: the port holds as many as it takes');
      reported = 0;
    }, REPORT_WINDOW_MS);
    window.unref();
  };
  const admit = (socket: Socket): boolean => {
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = byAddress.get(address) ?? 0;
    const limit: ConnectionCapLimit | undefined = caps.total > 0 && open >= caps.total ? 'total' : caps.perAddress > 0 && fromAddress >= caps.perAddress ? 'per_address' : undefined;
    if (limit) {
      watcher.refused?.(limit);
      report(limit, address);
      return false;
    }
    open++;
    byAddress.set(address, fromAddress + 1);
    watcher.opened?.();
    socket.once('close', () => {
      open--;
      const left = byAddress.get(address)! - 1;
      if (left > 0) byAddress.set(address, left);
      else byAddress.delete(address);
      watcher.closed?.();
    });
    return true;
  };
  // The server's own listeners (HTTP's, or TLS's before it) see only the connections admitted.
  const listeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (!admit(socket)) {
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    for (const listener of listeners) listener.call(server, socket);
  });
  return { open: () => open };
}
