import { randomUUID } from 'node:crypto';
import { finished, Readable, Writable } from 'node:stream';
import type { InteractiveProcess } from '../../drivers/contract';
import { ConflictError, NotFoundError, UnavailableError, UnsupportedOperationError } from '../errors';
import type { Logger } from '../logging/logger';
import type { HostAgent } from './host-agent';
import { chunksOf, encodeStreamFrame, openSessionParams, SESSION_OVERRUN_BYTES, SESSION_WINDOW_BYTES } from './stream-frames';
import type { OpenSessionParams, StreamEvent, StreamFrame } from './stream-frames';
import { fromWireError, toWireError } from './wire-error';

/** Sends one frame's text; throws when the connection is closed. */
type Send = (text: string) => void;

/**
 * The gateway's end of a connection's sessions: `open` sends the `openSession` call and gives an
 * `InteractiveProcess` whose streams are the session's frames. Output is acknowledged once passed
 * on (not while the reader holds back), stdin waits for acks past the window. `failAll` ends every
 * session with the error (the connection closed). The agent is held to the protocol: output past
 * the window (and SESSION_OVERRUN_BYTES), an ack of more stdin than was sent, or a malformed frame
 * naming a session ends that session with UNAVAILABLE (and a `close` to the agent), so an agent
 * that ignores the window cannot make the gateway hold its output without limit.
 */
export class SessionClient {
  private readonly sessions = new Map<string, RemoteProcess>();

  constructor(
    private readonly send: Send,
    private readonly windowBytes = SESSION_WINDOW_BYTES,
    /** Who is on the other end, in the errors a breach of the protocol ends a session with. */
    private readonly peer = 'the host agent',
    private readonly logger?: Logger,
  ) {}

  /** Opens a session: `request` sends the `openSession` call with the params (and the session id chosen here) and settles with its answer. */
  async open(params: Omit<OpenSessionParams, 'session'>, request: (params: OpenSessionParams) => Promise<unknown>): Promise<InteractiveProcess> {
    const session = randomUUID();
    const proc = new RemoteProcess(session, this.send, this.windowBytes, () => this.sessions.delete(session), (problem) => this.breach(session, problem));
    this.sessions.set(session, proc);
    try {
      await request({ ...params, session });
    } catch (e) {
      // Closed on the agent too: an opening that timed out here may still start the process there.
      proc.abort(e as Error);
      throw e;
    }
    return proc;
  }

  /** A stream frame of the agent; a frame of a session that ended (or never was) is dropped. */
  receive(frame: StreamFrame): void {
    this.sessions.get(frame.session)?.receive(frame);
  }

  /** A frame naming `session` that is not one of the protocol (`problem` says why): the session ends. */
  malformed(session: unknown, problem: string): void {
    if (typeof session === 'string' && this.sessions.has(session)) this.breach(session, `a malformed frame (${problem})`);
  }

  /** Ends `session` because the agent broke the protocol: UNAVAILABLE to its reader, `close` to the agent, a warning in the log. */
  private breach(session: string, problem: string): void {
    const proc = this.sessions.get(session);
    if (!proc) return;
    this.logger?.warn({ session, peer: this.peer, problem }, 'a host agent broke the session protocol: the session is ended');
    proc.abort(new UnavailableError(`The session ended: ${this.peer} broke the session protocol: ${problem}`, { session, reason: 'SESSION_PROTOCOL' }));
  }

  /** Ends every open session with `error`. */
  failAll(error: Error): void {
    for (const proc of [...this.sessions.values()]) proc.fail(error);
  }

  /** How many sessions are open. */
  get size(): number {
    return this.sessions.size;
  }
}

/** A process on the agent, as the gateway sees it through its session's frames (its exit settles once the output being read was read to the end). */
class RemoteProcess implements InteractiveProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exit: Promise<number>;
  private settle!: { resolve(code: number): void; reject(e: Error): void };
  private ended = false;
  /** Output bytes taken in and not acknowledged yet. */
  private unacked = 0;
  /** Output streams whose reader holds back (their buffer is full): no ack until they read again. */
  private readonly held = new Set<Readable>();
  /** Stdin bytes sent and not acknowledged yet, and the write waiting for acks. */
  private inFlight = 0;
  private waiting: (() => void) | undefined;

  constructor(
    private readonly session: string,
    private readonly send: Send,
    private readonly windowBytes: number,
    private readonly onEnd: () => void,
    private readonly onBreach: (problem: string) => void,
  ) {
    this.exit = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
    this.exit.catch(() => undefined);
    const output = () => {
      const stream: Readable = new Readable({
        read: () => {
          this.held.delete(stream);
          this.maybeAck();
        },
      });
      return stream;
    };
    this.stdout = output();
    this.stderr = output();
    this.stdin = new Writable({
      write: (chunk: Buffer, _encoding, done) => this.write(chunk, done),
      final: (done) => {
        this.frame({ event: 'eof' });
        done();
      },
    });
  }

  async resize(columns: number, rows: number): Promise<void> {
    this.frame({ event: 'resize', columns, rows });
  }

  kill(): void {
    if (this.ended) return;
    this.frame({ event: 'close' });
    this.end();
    this.settle.resolve(-1);
  }

  receive(frame: StreamFrame): void {
    if (this.ended) return;
    switch (frame.event) {
      case 'data': {
        const target = frame.stream === 'stdout' ? this.stdout : frame.stream === 'stderr' ? this.stderr : undefined;
        if (!target) return;
        const bytes = Buffer.from(frame.data, 'base64');
        if (this.unacked + bytes.length > this.windowBytes + SESSION_OVERRUN_BYTES) {
          return this.onBreach(`it sent ${this.unacked + bytes.length} bytes of output unacknowledged, past the window of ${this.windowBytes}`);
        }
        this.unacked += bytes.length;
        if (!target.push(bytes)) this.held.add(target);
        return this.maybeAck();
      }
      case 'ack':
        if (frame.bytes > this.inFlight) return this.onBreach(`it acknowledged ${frame.bytes} bytes of input when ${this.inFlight} were unacknowledged`);
        this.inFlight -= frame.bytes;
        return this.release();
      case 'exit':
        this.end();
        return this.settleWhenRead(frame.exitCode);
      case 'error':
        return this.fail(fromWireError(frame.error));
      default:
        return;
    }
  }

  /**
   * Settles the exit with `code` once the output being read was read to the end, as the contract's
   * `exit` does: a reader that holds back (the exec socket's slow client) still gets the output
   * that came before the exit frame, instead of the session ending under it. A stream nobody
   * reads is not waited for.
   */
  private settleWhenRead(code: number): void {
    const reading = [this.stdout, this.stderr].filter((s) => s.readableFlowing !== null && !s.readableEnded && !s.destroyed);
    let left = reading.length;
    if (!left) return this.settle.resolve(code);
    for (const stream of reading) finished(stream, { writable: false }, () => --left === 0 && this.settle.resolve(code));
  }

  /** Ends the session with `error` (the process's `exit` rejects with it). */
  fail(error: Error): void {
    if (this.ended) return;
    this.end();
    this.settle.reject(error);
  }

  /** Ends the session here and on the agent (`close`), with `error`. */
  abort(error: Error): void {
    if (this.ended) return;
    this.frame({ event: 'close' });
    this.fail(error);
  }

  private write(chunk: Buffer, done: () => void): void {
    if (this.ended) return done();
    for (const slice of chunksOf(chunk)) this.frame({ event: 'data', stream: 'stdin', data: slice.toString('base64') });
    this.inFlight += chunk.length;
    if (this.inFlight < this.windowBytes) done();
    else this.waiting = done;
  }

  /** Lets a write waiting for acks go on once the window has room (or the session ended). */
  private release(): void {
    if (!this.waiting || (!this.ended && this.inFlight >= this.windowBytes)) return;
    const done = this.waiting;
    this.waiting = undefined;
    done();
  }

  /** Acknowledges output once half a window was taken in and every reader keeps up. */
  private maybeAck(): void {
    if (this.ended || this.held.size || this.unacked < this.windowBytes / 2) return;
    this.frame({ event: 'ack', bytes: this.unacked });
    this.unacked = 0;
  }

  private end(): void {
    this.ended = true;
    this.stdout.push(null);
    this.stderr.push(null);
    this.release();
    this.onEnd();
  }

  /** Sends a frame of this session; a closed connection is not an error here (it fails every session). */
  private frame(event: StreamEvent): void {
    try {
      this.send(encodeStreamFrame(this.session, event));
    } catch {
      // The connection closed: its close ends the session.
    }
  }
}

/** A session the agent serves: opening (no process yet), then running. */
interface ServedSession {
  proc?: InteractiveProcess;
  /** Frames that came before the process was there (the gateway's window bounds them). */
  early: StreamFrame[];
  closed: boolean;
  /** Output bytes sent and not acknowledged yet; output is paused while it is past the window. */
  inFlight: number;
  paused: boolean;
  /** Stdin bytes written into the process and not acknowledged yet. */
  written: number;
}

/**
 * The agent's end of a connection's sessions: `open` starts the process of an `openSession` call
 * (only for an environment its own drivers have, running) and answers a start function, which the
 * dispatcher calls once the call's answer is sent: from then on the output goes out as frames.
 * `closeAll` kills every session's process (the connection closed).
 */
export class SessionServer {
  private readonly sessions = new Map<string, ServedSession>();

  constructor(
    private readonly agent: HostAgent,
    private readonly send: Send,
    private readonly logger?: Logger,
    private readonly windowBytes = SESSION_WINDOW_BYTES,
  ) {}

  /** Starts the process of an `openSession` call; the answer starts pumping its output. */
  async open(value: unknown): Promise<() => void> {
    const params = openSessionParams(value);
    const { session, driver, environmentId } = params;
    if (this.sessions.has(session)) throw new ConflictError(`Session ${session} is open already`, { session });
    const what = params.console ? 'console' : 'interactive exec';
    const offered = params.console ? this.agent.console !== undefined : this.agent.interactiveExec !== undefined;
    if (!offered) throw new UnsupportedOperationError(what, `host agent ${this.agent.id}`);
    // The agent serves only the environments of its own hosts: those its drivers have.
    const info = await this.agent.inspectEnvironment({ driver, environmentId }).catch((e: unknown) => {
      if ((e as { category?: unknown }).category === 'NOT_FOUND') throw new NotFoundError('Environment', environmentId, { agent: this.agent.id, reason: `not on a host agent ${this.agent.id} serves` });
      throw e;
    });
    if (info.state !== 'running') throw new ConflictError(`Environment ${environmentId} is ${info.state} on host agent ${this.agent.id}, not running`, { environmentId, state: info.state });
    const served: ServedSession = { early: [], closed: false, inFlight: 0, paused: false, written: 0 };
    this.sessions.set(session, served);
    let proc: InteractiveProcess;
    try {
      proc = params.console
        ? await this.agent.console!({ driver, environmentId })
        : await this.agent.interactiveExec!({ driver, environmentId, command: params.command!, ...(params.tty !== undefined ? { tty: params.tty } : {}), ...(params.columns !== undefined ? { columns: params.columns } : {}), ...(params.rows !== undefined ? { rows: params.rows } : {}) });
    } catch (e) {
      this.sessions.delete(session);
      throw e;
    }
    served.proc = proc;
    proc.stdin.on('error', (e) => this.logger?.debug({ err: e, session }, 'a session process closed its standard input'));
    if (served.closed) {
      this.sessions.delete(session);
      proc.kill();
      return () => undefined;
    }
    for (const frame of served.early.splice(0)) this.receive(frame);
    this.logger?.info({ session, environment: environmentId, driver, what }, 'session opened');
    return () => this.pump(session, served, proc);
  }

  /** A stream frame of the gateway; a frame of a session that ended (or never was) is dropped. */
  receive(frame: StreamFrame): void {
    const served = this.sessions.get(frame.session);
    if (!served) return;
    const proc = served.proc;
    if (!proc) {
      if (frame.event === 'close') served.closed = true;
      else served.early.push(frame);
      return;
    }
    switch (frame.event) {
      case 'data': {
        if (frame.stream !== 'stdin') return;
        const bytes = Buffer.from(frame.data, 'base64');
        proc.stdin.write(bytes, () => {
          served.written += bytes.length;
          if (served.written < this.windowBytes / 2) return;
          this.frame(frame.session, { event: 'ack', bytes: served.written });
          served.written = 0;
        });
        return;
      }
      case 'ack':
        served.inFlight = Math.max(0, served.inFlight - frame.bytes);
        if (served.paused && served.inFlight < this.windowBytes) {
          served.paused = false;
          proc.stdout.resume();
          proc.stderr.resume();
        }
        return;
      case 'resize':
        proc.resize(frame.columns, frame.rows).catch((e: unknown) => this.logger?.warn({ err: e, session: frame.session }, 'session resize failed'));
        return;
      case 'eof':
        proc.stdin.end();
        return;
      case 'close':
        this.sessions.delete(frame.session);
        proc.kill();
        this.logger?.info({ session: frame.session }, 'session closed by the gateway');
        return;
      default:
        return;
    }
  }

  /** Kills every session's process (the connection to the gateway closed). */
  closeAll(): void {
    for (const [session, served] of this.sessions) {
      served.closed = true;
      served.proc?.kill();
      this.logger?.info({ session }, 'session ended: the connection to the gateway closed');
    }
    this.sessions.clear();
  }

  /** How many sessions are open. */
  get size(): number {
    return this.sessions.size;
  }

  private pump(session: string, served: ServedSession, proc: InteractiveProcess): void {
    const forward = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (!this.sessions.has(session)) return;
      for (const slice of chunksOf(chunk)) this.frame(session, { event: 'data', stream, data: slice.toString('base64') });
      served.inFlight += chunk.length;
      if (!served.paused && served.inFlight >= this.windowBytes) {
        served.paused = true;
        proc.stdout.pause();
        proc.stderr.pause();
      }
    };
    proc.stdout.on('data', forward('stdout'));
    proc.stderr.on('data', forward('stderr'));
    proc.exit.then(
      (exitCode) => this.finish(session, { event: 'exit', exitCode }),
      (e: unknown) => this.finish(session, { event: 'error', error: toWireError(e) }),
    );
  }

  private finish(session: string, last: StreamEvent): void {
    if (!this.sessions.delete(session)) return;
    this.frame(session, last);
    this.logger?.info({ session, ...(last.event === 'exit' ? { exitCode: last.exitCode } : { error: last.event === 'error' ? last.error.message : undefined }) }, 'session ended');
  }

  private frame(session: string, event: StreamEvent): void {
    try {
      this.send(encodeStreamFrame(session, event));
    } catch (e) {
      this.logger?.debug({ err: e, session }, 'could not send a session frame: the connection is closed');
    }
  }
}
