import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { InteractiveProcess } from '../../drivers/contract';
import { isTerminalSize } from '../agent/stream-frames';
import type { Principal } from '../auth/principal';
import type { Unlisten } from '../events/pubsub';
import { fromDatabaseError, isRspError, outageOf } from '../errors';
import { clientAddress } from '../limits/client-address';
import type { RefusalLog } from '../limits/refusal-log';
import { RATE_LIMITED, type RequestLimits } from '../limits/request-limits';
import { isRefusal } from '../limits/socket-admission';
import type { Logger } from '../logging/logger';
import type { EnvironmentService } from '../services/environment-service';
import type { CredentialSockets } from './credential-sockets';
import { EXEC_ERROR_CLOSE_CODE, EXEC_PROTOCOL, MAX_EXEC_FRAME_BYTES, STREAM, type ExecControl, type ExecStart } from './exec-protocol';
import { refuseUpgrade, upgradeSecret } from './graphql-upgrade';

export { EXEC_WEBSOCKET_PATH } from './exec-protocol';

/** Bytes of output a session's socket may hold unsent before the process's streams pause. */
export const OUTPUT_BUFFER_BYTES = 1024 * 1024;
/** How often a session whose process is not taking its input is pinged (to notice a client gone). */
const HELD_PING_MS = 15_000;

/**
 * The `/exec` WebSocket endpoint: interactive processes in environments. The upgrade must offer the
 * `rsp.exec.v1` subprotocol (400 BAD_REQUEST otherwise, before anything else) and carry a
 * token (`Authorization: Bearer …` or a `rsp.bearer.…` protocol entry; 401 otherwise) and counts
 * in the per-address socket limits (429). The session's first frame is an `ExecStart` (JSON); it
 * is authorized as `execEnvironment` (a MEMBER of the environment's group). Then binary frames
 * carry the streams (first byte `STREAM`), text frames the `ExecControl`s; the gateway ends with
 * `exit` and closes 1000, or with `error` and closes 4400. A revoked token closes it 4403. A start
 * with `console: true` attaches to the environment's console instead (same authorization, same
 * frames; the exit comes when the console goes away; closing the socket detaches, and so does an
 * `eof`, which, coming after the start, lets a refused start still be told to the client).
 * A frame over MAX_EXEC_FRAME_BYTES closes the session (1009). Standard input is not buffered in
 * the gateway: while the process has not taken what it was given, the socket is not read (the
 * client's sends wait), and it is not read either while the session starts.
 */
export function execSocket(options: {
  limits: RequestLimits;
  refusals: RefusalLog;
  authenticate: (secret: string) => Promise<Principal | null>;
  environments: EnvironmentService;
  credentialSockets: CredentialSockets;
  /** Calls `changed` whenever the environment changes status or access changes (on any replica), until unlistened. */
  watchEnvironment: (environmentId: string, changed: () => void) => Unlisten;
  logger: Logger;
}): { handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>; close: () => void } {
  const { limits, refusals, authenticate, environments, credentialSockets, watchEnvironment, logger } = options;
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: MAX_EXEC_FRAME_BYTES, handleProtocols: (protocols) => (protocols.has(EXEC_PROTOCOL) ? EXEC_PROTOCOL : false) });
  const handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    // Only a client speaking the exec protocol gets a session: a graphql-ws (or any other) client sent here by mistake is refused before its handshake.
    if (!offersProtocol(req, EXEC_PROTOCOL)) return refuseUpgrade(socket, 400, 'Bad Request', `An exec session speaks the ${EXEC_PROTOCOL} subprotocol (Sec-WebSocket-Protocol); GraphQL subscriptions are on /graphql`, 'BAD_REQUEST');
    const address = clientAddress(req);
    const secret = upgradeSecret(req);
    if (!secret) return refuseUpgrade(socket, 401, 'Unauthorized', 'An exec session needs a token (Authorization: Bearer, or a rsp.bearer.<token> protocol entry)', 'UNAUTHENTICATED');
    const admitted = await limits.admitSocket(address);
    if (isRefusal(admitted)) {
      refusals.count(admitted.limit);
      return refuseUpgrade(socket, admitted.status, 'Too Many Requests', admitted.message, RATE_LIMITED, admitted.retryAfter);
    }
    socket.once('close', admitted);
    let actor: Principal | null;
    try {
      actor = await authenticate(secret);
    } catch (e) {
      const outage = outageOf(e);
      if (!outage) throw e;
      return refuseUpgrade(socket, 503, 'Service Unavailable', outage.message, 'UNAVAILABLE', outage.retryAfterSeconds);
    }
    if (!actor) return refuseUpgrade(socket, 401, 'Unauthorized', 'The token is unknown, revoked or expired', 'UNAUTHENTICATED');
    if (socket.destroyed) return;
    const who = actor;
    wsServer.handleUpgrade(req, socket, head, (ws) => session(ws, who, address));
  };

  const session = (ws: WebSocket, actor: Principal, address: string) => {
    credentialSockets.track(ws, actor);
    const log = logger.child({ actor: actor.kind === 'token' ? actor.tokenId : 'anonymous', address });
    let proc: InteractiveProcess | undefined;
    let starting = false;
    let consoleSession = false;
    const control = (c: ExecControl) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(c));
    const fail = (thrown: unknown) => {
      // A database error the caller caused (an id that is no UUID) is theirs, as over GraphQL.
      const e = isRspError(thrown) ? thrown : (fromDatabaseError(thrown) ?? thrown);
      const code = isRspError(e) ? e.category : 'INTERNAL_SERVER_ERROR';
      const message = isRspError(e) ? e.message : 'The exec session failed';
      if (!isRspError(e)) log.warn({ err: e }, 'exec session failed');
      control({ type: 'error', code, message });
      ws.close(EXEC_ERROR_CLOSE_CODE, code);
    };
    ws.on('close', () => proc?.kill());
    // A broken frame (too large, bad UTF-8, not masked…) closes the socket; unheard, it would end the process.
    ws.on('error', (e) => log.info({ err: e }, 'exec socket error'));
    // Frames a client pipelines behind its start wait for the process.
    const early: Array<[Buffer, boolean]> = [];
    // A process that does not keep up with its input: the socket is not read until it has taken it.
    // Meanwhile a ping now and then finds out whether the client went away (its close frame is not read).
    let draining = false;
    const holdUntilDrained = (p: InteractiveProcess) => {
      if (draining) return;
      draining = true;
      ws.pause();
      const probe = setInterval(() => ws.readyState === ws.OPEN && ws.ping(), HELD_PING_MS);
      probe.unref();
      const go = () => {
        if (!draining) return;
        draining = false;
        clearInterval(probe);
        ws.resume();
      };
      p.stdin.once('drain', go);
      p.stdin.once('close', go);
      ws.once('close', go);
    };
    // Frames read while a resize is under way wait for it: input typed after a resize sees the new size.
    let afterResize: Array<[Buffer, boolean]> | undefined;
    const frame = (p: InteractiveProcess, bytes: Buffer, binary: boolean) => {
      if (afterResize) {
        afterResize.push([bytes, binary]);
        return;
      }
      if (binary) {
        if (bytes[0] === STREAM.stdin && bytes.length > 1 && !p.stdin.write(bytes.subarray(1))) holdUntilDrained(p);
        return;
      }
      let c: ExecControl;
      try {
        c = JSON.parse(bytes.toString('utf8')) as ExecControl;
      } catch {
        return;
      }
      // A console's input is the environment's own: its end detaches instead of closing it.
      if (c.type === 'eof') {
        if (consoleSession) p.kill();
        else p.stdin.end();
      } else if (c.type === 'resize' && isTerminalSize(c.columns) && isTerminalSize(c.rows)) {
        afterResize = [];
        ws.pause();
        void p
          .resize(c.columns, c.rows)
          .catch((e: unknown) => log.warn({ err: e }, 'exec resize failed'))
          .finally(() => {
            const waiting = afterResize ?? [];
            afterResize = undefined;
            // In order; a resize among them makes the rest wait again.
            for (const [b, bin] of waiting) frame(p, b, bin);
            if (!afterResize && !draining) ws.resume();
          });
      }
    };
    ws.on('message', (data: RawData, binary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (proc) frame(proc, bytes, binary);
      else if (starting) early.push([bytes, binary]);
      else {
        starting = true;
        // Nothing more is read until the process is there to take it (frames already read wait in `early`).
        ws.pause();
        void start(bytes, binary)
          .catch(fail)
          .finally(() => proc || ws.resume());
      }
    });
    const start = async (bytes: Buffer, binary: boolean) => {
      let s: ExecStart;
      try {
        if (binary) throw new Error('binary');
        s = JSON.parse(bytes.toString('utf8')) as ExecStart;
      } catch {
        control({ type: 'error', code: 'BAD_USER_INPUT', message: 'The first frame of an exec session is a JSON text frame {environment, command, tty?, columns?, rows?}' });
        return ws.close(EXEC_ERROR_CLOSE_CODE, 'BAD_USER_INPUT');
      }
      if (typeof s.environment !== 'string' || (s.columns !== undefined && !isTerminalSize(s.columns)) || (s.rows !== undefined && !isTerminalSize(s.rows))) {
        control({ type: 'error', code: 'BAD_USER_INPUT', message: 'environment must be an id, columns and rows whole numbers from 1 to 10000' });
        return ws.close(EXEC_ERROR_CLOSE_CODE, 'BAD_USER_INPUT');
      }
      if (s.console === true && s.command !== undefined && !(Array.isArray(s.command) && s.command.length === 0)) {
        control({ type: 'error', code: 'BAD_USER_INPUT', message: 'A console session takes no command' });
        return ws.close(EXEC_ERROR_CLOSE_CODE, 'BAD_USER_INPUT');
      }
      consoleSession = s.console === true;
      const what = consoleSession ? 'console' : 'exec';
      // The session lasts while the caller may run commands in the environment, where it runs now:
      // watched from before the process starts, so no change is missed.
      const { hostId } = await environments.get(actor, s.environment);
      const recheck = () => void environments.sessionLost(actor, s.environment, hostId).then((lost) => lost && ws.readyState === ws.OPEN && fail(lost));
      const unwatch = watchEnvironment(s.environment, recheck);
      ws.once('close', unwatch);
      const p = s.console === true ? await environments.console(actor, s.environment) : await environments.interactiveExec(actor, s.environment, s.command ?? [], { tty: s.tty === true, columns: s.columns, rows: s.rows });
      log.info({ environment: s.environment, ...(s.console === true ? { console: true } : { command: s.command, tty: s.tty === true }) }, `${what} session started`);
      if (ws.readyState !== ws.OPEN) return p.kill();
      proc = p;
      recheck();
      for (const [bytes, binary] of early.splice(0)) frame(p, bytes, binary);
      if (!draining) ws.resume();
      // Output to a slow client is held back: the process's streams pause while the socket has
      // more than OUTPUT_BUFFER_BYTES unsent, and go on once it is under half.
      let paused = false;
      const sent = () => {
        if (!paused || ws.bufferedAmount > OUTPUT_BUFFER_BYTES / 2) return;
        paused = false;
        p.stdout.resume();
        p.stderr.resume();
      };
      const forward = (stream: number) => (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(Buffer.concat([Buffer.from([stream]), chunk]), { binary: true }, sent);
        if (paused || ws.bufferedAmount <= OUTPUT_BUFFER_BYTES) return;
        paused = true;
        p.stdout.pause();
        p.stderr.pause();
      };
      p.stdout.on('data', forward(STREAM.stdout));
      p.stderr.on('data', forward(STREAM.stderr));
      p.stdin.on('error', () => undefined);
      const exitCode = await p.exit;
      log.info({ environment: s.environment, exitCode }, `${what} session ended`);
      control({ type: 'exit', exitCode });
      ws.close(1000);
    };
  };
  return { handle, close: () => wsServer.clients.forEach((c) => c.terminate()) };
}

/** Whether the upgrade's `Sec-WebSocket-Protocol` offers `protocol`. */
function offersProtocol(req: IncomingMessage, protocol: string): boolean {
  const offered = req.headers['sec-websocket-protocol'];
  return typeof offered === 'string' && offered.split(',').some((p) => p.trim() === protocol);
}
