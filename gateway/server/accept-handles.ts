import { createServer, Server as NetServer } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'pino';

/**
 * How many listening sockets share the gateway's port. Node 22 (its libuv) accepts one connection
 * per listening socket per turn of the event loop, so a burst of N connections waits N turns in
 * the kernel's accept queue, and a connection behind it (a load balancer's /healthz) waits as
 * many turns, each also doing a slice of the burst's upgrades and messages: seconds on a loaded
 * machine. With SO_REUSEPORT the kernel spreads new connections over several sockets on one port,
 * each accepted once a turn: with 256, a burst of 500 is accepted in a few turns (a socket's share
 * is about 2), and a check behind it waits those few turns, not hundreds (bench:burst: 8 sockets
 * left a probe behind 639 connections accepted in 94 turns, 2.5 s). Accepting faster than the
 * upgrades are checked moves the waiting from the kernel's queues to the gateway's, which is bounded
 * (graphql-upgrade.ts, `MAX_UPGRADES_WAITING`). Linux only (elsewhere the port's sockets would not
 * share the load): 1 on other platforms.
 */
export const ACCEPT_HANDLES = process.platform === 'linux' ? 256 : 1;

/** Where and how the gateway listens. */
export interface ListenOptions {
  /** The port (0: a free one, the same for every socket). */
  port: number;
  host: string;
  /** Each socket's accept queue (`listen`'s backlog). */
  backlog: number;
}

/** The port's extra listening sockets, to close with the server. */
export interface AcceptHandles {
  /** Stops accepting on the extra sockets (the server's own is closed by `server.close()`; their connections are the server's to end). */
  close(): void;
}

/**
 * Listens `server` on `options` with `handles` sockets on the one port (SO_REUSEPORT): the
 * server's own and `handles - 1` more, whose connections are handed to the server as its own
 * ('connection', as Node documents for injecting sockets). The port is first taken once without
 * SO_REUSEPORT and released, so a port in use (by anything, including another gateway) is still
 * EADDRINUSE rather than silently shared; port 0 picks a free port for all of them.
 */
export async function listenWithAcceptHandles(server: Server, options: ListenOptions, logger: Logger, handles = ACCEPT_HANDLES): Promise<AcceptHandles> {
  if (handles <= 1) {
    await listen(server, options);
    return { close: () => undefined };
  }
  const probe = createServer();
  await listen(probe, { ...options, backlog: 1 });
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await listen(server, { ...options, port, reusePort: true });
  const extra: NetServer[] = [];
  try {
    for (let i = 1; i < handles; i++) {
      // As http.Server creates its sockets (half-open allowed, no Nagle delay).
      const handle = createServer({ allowHalfOpen: (server as unknown as { allowHalfOpen?: boolean }).allowHalfOpen ?? false, noDelay: true }, (socket) => server.emit('connection', socket));
      await listen(handle, { ...options, port, reusePort: true });
      handle.on('error', (err) => logger.warn({ err }, 'an extra listening socket of the port failed'));
      extra.push(handle);
    }
  } catch (e) {
    await Promise.all([server, ...extra].map((s) => new Promise((resolve) => s.close(resolve))));
    throw e;
  }
  return {
    close: () => {
      for (const handle of extra) handle.close();
    },
  };
}

function listen(server: NetServer, options: ListenOptions & { reusePort?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
