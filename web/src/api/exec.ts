/** Interactive exec sessions from the browser: the gateway's `/exec` WebSocket (see gateway/server/exec-socket.ts). */
import { EXEC_PROTOCOL, EXEC_WEBSOCKET_PATH, STREAM, type ExecControl, type ExecStart } from '../../../gateway/server/exec-protocol';
import { GraphQLRequestError } from './graphql';
import { tokenProtocolEntry } from './session';

/** The close code of a session whose token was revoked. */
const REVOKED_CLOSE = 4403;

/** What a session reports to whoever shows it. */
export interface ExecHandlers {
  /** Bytes the process wrote (stdout and stderr; with a TTY they arrive merged on stdout). */
  output(bytes: Uint8Array): void;
  /** The process ended with `exitCode`. */
  exit(exitCode: number): void;
  /** The session was refused or failed (code as the API's error codes). */
  error(error: GraphQLRequestError): void;
}

/** An open session: input, terminal size and the way to end it. */
export interface BrowserExecSession {
  /** Sends text or bytes to the process's standard input. */
  write(data: string | Uint8Array): void;
  /** Sets the terminal's size. */
  resize(columns: number, rows: number): void;
  /** Ends the session (the gateway ends the process). */
  close(): void;
}

/**
 * Opens an exec session with the stored token: `start` says what to run where. Input sent before
 * the socket opened is queued. Every end reaches `handlers` once: `exit`, or `error` with the
 * gateway's code (UNAUTHENTICATED when the token was refused or revoked, NETWORK when the socket
 * dropped without an answer).
 */
export function openExecSession(start: ExecStart, handlers: ExecHandlers): BrowserExecSession {
  const token = tokenProtocolEntry();
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${EXEC_WEBSOCKET_PATH}`, [EXEC_PROTOCOL, ...token]);
  ws.binaryType = 'arraybuffer';
  const queue: Array<string | Uint8Array> = [];
  const send = (frame: string | Uint8Array) => (ws.readyState === WebSocket.OPEN ? ws.send(frame) : queue.push(frame));
  let ended = false;
  const end = (report: () => void) => {
    if (ended) return;
    ended = true;
    report();
  };
  send(JSON.stringify(start));
  ws.onopen = () => queue.splice(0).forEach((f) => ws.send(f));
  ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
    if (typeof event.data !== 'string') {
      const bytes = new Uint8Array(event.data);
      if (bytes[0] === STREAM.stdout || bytes[0] === STREAM.stderr) handlers.output(bytes.subarray(1));
      return;
    }
    const c = JSON.parse(event.data) as ExecControl;
    if (c.type === 'exit') end(() => handlers.exit(c.exitCode));
    else if (c.type === 'error') end(() => handlers.error(new GraphQLRequestError(c.message, c.code)));
  };
  ws.onclose = (event) => {
    if (event.code === REVOKED_CLOSE) end(() => handlers.error(new GraphQLRequestError('The token was revoked: the session was closed', 'UNAUTHENTICATED')));
    else end(() => handlers.error(new GraphQLRequestError(`The session ended without an exit status (close code ${event.code})`, event.code === 1006 && !token.length ? 'UNAUTHENTICATED' : 'NETWORK')));
  };
  const stdin = (data: string | Uint8Array) => {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const frame = new Uint8Array(bytes.length + 1);
    frame[0] = STREAM.stdin;
    frame.set(bytes, 1);
    return frame;
  };
  return {
    write: (data) => send(stdin(data)),
    resize: (columns, rows) => send(JSON.stringify({ type: 'resize', columns, rows } satisfies ExecControl)),
    close: () => {
      ended = true;
      ws.close(1000);
    },
  };
}
