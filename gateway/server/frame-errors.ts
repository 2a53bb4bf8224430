import type { WebSocket } from 'ws';

/** An error of ws's frame reader (`WS_ERR_…`): the client sent a frame the socket cannot take. */
function isFrameError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('WS_ERR_');
}

/**
 * Keeps the errors of `ws`'s broken frames (over the size limit, bad UTF-8…) from its listeners:
 * ws closes the socket with its code (1009, 1007…) on its own, and graphql-ws would print each
 * one's stack to the console. Other errors are emitted as before.
 */
export function quietFrameErrors(ws: WebSocket): void {
  const emit = ws.emit.bind(ws) as (event: string | symbol, ...args: unknown[]) => boolean;
  ws.emit = ((event: string | symbol, ...args: unknown[]): boolean => (event === 'error' && isFrameError(args[0]) ? true : emit(event, ...args))) as WebSocket['emit'];
}
