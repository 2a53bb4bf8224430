import WebSocket from 'ws';
import { EXEC_PROTOCOL, STREAM, type ExecControl, type ExecStart } from '../server/exec-protocol';
import { CliError, ExitCode, unreachable } from './exit-codes';
import { printable } from './output';

/** An interactive exec session on the gateway's `/exec` WebSocket (see `execSocket`). */
export interface ExecSession {
  /** Sends bytes to the process's standard input. */
  write(data: Buffer | string): void;
  /** Closes the process's standard input. */
  end(): void;
  /** Sets the terminal's size. */
  resize(columns: number, rows: number): void;
  /** Settles with the exit code; rejects with a CliError (its code) when the gateway refuses or fails the session. */
  exit: Promise<number>;
  /** Drops the session (the process is ended); what was written before is sent first. */
  close(): void;
}

/** The session's socket closed with neither an exit status nor an error from the gateway (e.g. this side closed it). */
export class SessionClosedError extends CliError {
  constructor(closeCode: number) {
    super(`the exec session ended without an exit status (close code ${closeCode})`, 'UNAVAILABLE', ExitCode.UNAVAILABLE);
  }
}

/**
 * Opens an exec session as `token` on the gateway at `url` (http(s)://…): what it prints goes to
 * `onStdout`/`onStderr` as it comes. Input written before the socket opened is sent once it has.
 */
export function openExecSession(url: string, token: string | undefined, start: ExecStart, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): ExecSession {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/exec`, [EXEC_PROTOCOL], token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const queue: Array<string | Buffer> = [];
  const send = (frame: string | Buffer) => (ws.readyState === WebSocket.OPEN ? ws.send(frame) : queue.push(frame));
  send(JSON.stringify(start));
  const exit = new Promise<number>((resolve, reject) => {
    let code: number | undefined;
    let failure: CliError | undefined;
    ws.on('open', () => queue.splice(0).forEach((f) => ws.send(f)));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => {
        let first: { message?: string; extensions?: { code?: string } } | undefined;
        try {
          first = (JSON.parse(body) as { errors?: Array<{ message?: string; extensions?: { code?: string } }> }).errors?.[0];
        } catch {
          first = undefined;
        }
        reject(new CliError(first?.message === undefined ? `the gateway answered HTTP ${res.statusCode}` : printable(first.message), first?.extensions?.code ? printable(first.extensions.code) : res.statusCode === 401 ? 'UNAUTHENTICATED' : 'FAILURE'));
      });
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) {
        if (data[0] === STREAM.stdout) onStdout(data.subarray(1));
        else if (data[0] === STREAM.stderr) onStderr(data.subarray(1));
        return;
      }
      const c = JSON.parse(data.toString('utf8')) as ExecControl;
      if (c.type === 'exit') code = c.exitCode;
      else if (c.type === 'error') failure = new CliError(printable(String(c.message)), printable(String(c.code)));
    });
    ws.on('error', (e) => reject(unreachable(url, (e as NodeJS.ErrnoException).code ?? e.message)));
    ws.on('close', (closeCode) => {
      if (failure) reject(failure);
      else if (code !== undefined) resolve(code);
      else if (closeCode === 4403) reject(new CliError('The token was revoked: the session was closed', 'UNAUTHENTICATED'));
      else reject(new SessionClosedError(closeCode));
    });
  });
  return {
    write: (data) => send(Buffer.concat([Buffer.from([STREAM.stdin]), Buffer.from(data)])),
    end: () => send(JSON.stringify({ type: 'eof' } satisfies ExecControl)),
    resize: (columns, rows) => send(JSON.stringify({ type: 'resize', columns, rows } satisfies ExecControl)),
    exit,
    // Closed before it opened (input that ended at once): once open, after the frames queued meanwhile.
    close: () => (ws.readyState === WebSocket.CONNECTING ? ws.once('open', () => ws.close()) : ws.close()),
  };
}
