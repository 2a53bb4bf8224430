import WebSocket from 'ws';

/** What a graphql-transport-ws socket came to: acknowledged, refused at the upgrade (HTTP status, `Retry-After`, body), or closed (close code). */
export type SocketOutcome = { socket: WebSocket; ack: true } | { status: number; retryAfter?: string; body: string } | { code: number; reason: string };

/** How `openSocket` opens: HTTP headers of the upgrade, protocols offered beside graphql-transport-ws, and whether to send `connection_init` at all. */
export interface OpenOptions {
  headers?: Record<string, string>;
  protocols?: string[];
  init?: boolean;
}

/** Every socket `openSocket` opened, until `terminateSockets`. */
const opened = new Set<WebSocket>();

/** Terminates every socket `openSocket` opened (after each test: a failed one leaves none behind to hold the next one's places). */
export function terminateSockets(): void {
  for (const socket of opened) socket.terminate();
  opened.clear();
}

/** Opens a graphql-transport-ws socket and sends `connection_init` with `payload`; resolves once it is acknowledged or refused. */
export function openSocket(url: string, payload: Record<string, unknown> = {}, options: OpenOptions = {}): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, ['graphql-transport-ws', ...(options.protocols ?? [])], { perMessageDeflate: false, headers: options.headers ?? {} });
    opened.add(socket);
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    socket.on('error', () => undefined);
    socket.on('open', () => {
      if (options.init !== false) socket.send(JSON.stringify({ type: 'connection_init', payload }));
    });
    socket.on('message', (data: Buffer) => {
      if (JSON.parse(data.toString()).type === 'connection_ack') resolve({ socket, ack: true });
    });
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

/** Sends `subscribe` with `id` and resolves with the first answer to it (`next` or `error`). */
export function subscribe(socket: WebSocket, id: string, query: string, variables: Record<string, unknown> = {}): Promise<{ type: string; payload: any }> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer) => {
      const m = JSON.parse(data.toString());
      if (m.id !== id) return;
      socket.off('message', onMessage);
      resolve(m);
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  });
}

/**
 * One real `GET /healthz`: its status and time (ms). No bound on the time: on a loaded test machine
 * the test process itself (which also drives the flood) can be starved for seconds; the tests
 * assert that each answer arrives, 200, and the latencies are figures of bench/abuse-burst.ts
 * (probe and flood in processes of their own).
 */
export async function healthz(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/healthz`);
  await res.json();
  return { status: res.status, ms: performance.now() - started };
}
