/** The wire format of interactive exec sessions (`/exec`), shared by the gateway and the CLI. */

/** The path of interactive exec sessions. */
export const EXEC_WEBSOCKET_PATH = '/exec';
/** The subprotocol of an exec session (offered beside a `rsp.bearer.…` entry when the token goes that way). */
export const EXEC_PROTOCOL = 'rsp.exec.v1';
/** First byte of a binary frame: which stream its bytes belong to (stdin from the client; stdout, stderr from the gateway). */
export const STREAM = { stdin: 0, stdout: 1, stderr: 2 } as const;
/**
 * Largest frame a client may send (a start, a control or a piece of standard input); a larger one
 * closes the session with 1009. The CLI sends standard input in pieces of at most 64 KiB.
 */
export const MAX_EXEC_FRAME_BYTES = 1024 * 1024;
/** Close code of a session refused or failed (its `error` frame says why). */
export const EXEC_ERROR_CLOSE_CODE = 4400;

/**
 * The first (text) frame a client sends: what to run where — or, with `console: true` (and no
 * command), to attach to the environment's console instead (`tty` and sizes are then ignored,
 * `eof` does not detach: closing the socket does).
 */
export interface ExecStart {
  environment: string;
  command?: string[];
  console?: boolean;
  tty?: boolean;
  columns?: number;
  rows?: number;
}

/** Control frames (text, JSON): the client's `resize` and `eof`; the gateway's `exit` and `error`. */
export type ExecControl = { type: 'resize'; columns: number; rows: number } | { type: 'eof' } | { type: 'exit'; exitCode: number } | { type: 'error'; code: string; message: string };
