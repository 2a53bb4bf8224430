import { BadInputError } from '../errors';
import type { WireError } from './protocol';

/**
 * Interactive sessions over the agent connection: the gateway opens one with an
 * `openSession` call (answered once the process runs on the agent), then both sides exchange
 * `stream` frames that name the session: stdin, stdout and stderr bytes (base64, at most
 * `SESSION_CHUNK_BYTES` a frame), the gateway's `resize`, `eof` and `close`, the agent's `exit`
 * and `error`, and each side's `ack` of the bytes it passed on. A sender has at most the window
 * (`SESSION_WINDOW_BYTES`) unacknowledged per session and direction, then it stops reading its
 * source until acks come: a fast producer or a slow reader cannot grow memory without limit.
 */

/**
 * What an agent's `hello` lists in `features` when it serves sessions. An agent without it (an
 * older release) is never sent `openSession` or a stream frame: the gateway refuses the session
 * with UNSUPPORTED_OPERATION naming the agent's version, and a gateway without sessions never
 * opens one, so neither side ever gets a stream frame it does not know.
 */
export const SESSIONS_FEATURE = 'sessions';

/**
 * The oldest negotiated protocol version a connection serves sessions on: a connection of
 * protocol 4 stands for a release before sessions (as the `RSP_TEST_AGENT_PROTOCOL` pin makes one).
 */
export const SESSIONS_MIN_PROTOCOL = 5;

/** The request method that opens a session. */
export const OPEN_SESSION = 'openSession';

/** Bytes one side may send in a session's direction before the other acknowledges them. */
export const SESSION_WINDOW_BYTES = 256 * 1024;

/** Most bytes in one data frame. */
export const SESSION_CHUNK_BYTES = 32 * 1024;

/** Most characters of a data frame's base64 text (SESSION_CHUNK_BYTES encoded): a longer one is malformed. */
export const SESSION_CHUNK_BASE64_CHARS = 4 * Math.ceil(SESSION_CHUNK_BYTES / 3);

/**
 * Bytes past its window a receiver takes from the other side before it ends the session as a
 * breach of the protocol. A sender stops reading its process's streams once the window is full,
 * but the output it already read (one piece of a stream, of whatever size its source gave) goes out
 * whole: this leaves room for that piece, and bounds what a peer that ignores the window (a
 * compromised host's agent) makes the gateway hold for a reader that does not keep up.
 */
export const SESSION_OVERRUN_BYTES = 4 * 1024 * 1024;

/** The streams of a session's process. */
export type SessionStream = 'stdin' | 'stdout' | 'stderr';

/** What `openSession` asks: an interactive process (`command`, `tty`, sizes) or, with `console`, the environment's console. */
export interface OpenSessionParams {
  /** Chosen by the gateway; names the session in every stream frame. */
  session: string;
  /** The agent's driver that has the environment, and the environment's id. */
  driver: string;
  environmentId: string;
  /** The environment's console rather than a command (then no `command`). */
  console?: boolean;
  /** The command (an argument array), on a terminal of `columns` × `rows` with `tty`. */
  command?: string[];
  tty?: boolean;
  columns?: number;
  rows?: number;
}

/** One event of a session. */
export type StreamEvent =
  | { event: 'data'; stream: SessionStream; data: string }
  | { event: 'ack'; bytes: number }
  | { event: 'resize'; columns: number; rows: number }
  | { event: 'eof' }
  | { event: 'exit'; exitCode: number }
  | { event: 'error'; error: WireError }
  | { event: 'close' };

/** A session's frame on the agent connection. */
export type StreamFrame = { type: 'stream'; session: string } & StreamEvent;

/** Whether `n` is a terminal's columns or rows as sessions take them: a whole number from 1 to 10000 (an `/exec` start or resize, an `openSession`, a `resize` frame). */
export const isTerminalSize = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 10_000;

const isSessionId = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= 100;

/**
 * A frame as a channel hands it over: its JSON value (`parsed` when the channel read it already,
 * else read from `text`; undefined when it is not JSON, for the call frames' decoder to refuse)
 * and whether it is a session's `stream` frame (for `decodeStreamFrame`) rather than a call's.
 */
export function frameValue(text: string, parsed?: unknown): { value: unknown; isStream: boolean } {
  let value = parsed;
  if (value === undefined) {
    try {
      value = JSON.parse(text);
    } catch {
      // Not JSON: left undefined.
    }
  }
  return { value, isStream: (value as { type?: unknown } | null)?.type === 'stream' };
}

/** JSON text of a session's frame (built here from typed plain data). */
export function encodeStreamFrame(session: string, event: StreamEvent): string {
  return JSON.stringify({ type: 'stream', session, ...event });
}

/** The stream frame `value` (parsed JSON) is; BAD_USER_INPUT naming what is wrong otherwise. */
export function decodeStreamFrame(value: unknown): StreamFrame {
  const f = value as Record<string, unknown> | null;
  const bad = (problem: string): never => {
    throw new BadInputError(`Malformed stream frame: ${problem}`);
  };
  if (!f || typeof f !== 'object' || Array.isArray(f) || f.type !== 'stream') return bad('not a stream frame');
  if (!isSessionId(f.session)) return bad('a stream frame needs a session id');
  switch (f.event) {
    case 'data':
      if (f.stream !== 'stdin' && f.stream !== 'stdout' && f.stream !== 'stderr') bad('data needs a stream: stdin, stdout or stderr');
      if (typeof f.data !== 'string') bad('data needs base64 bytes');
      else if (f.data.length > SESSION_CHUNK_BASE64_CHARS || Buffer.byteLength(f.data, 'base64') > SESSION_CHUNK_BYTES) bad(`data carries at most ${SESSION_CHUNK_BYTES} bytes a frame`);
      break;
    case 'ack':
      if (!Number.isInteger(f.bytes) || (f.bytes as number) < 0) bad('an ack needs a byte count');
      break;
    case 'resize':
      if (!isTerminalSize(f.columns) || !isTerminalSize(f.rows)) bad('a resize needs columns and rows from 1 to 10000');
      break;
    case 'exit':
      if (!Number.isInteger(f.exitCode) || Math.abs(f.exitCode as number) > 2 ** 31) bad('an exit needs an integer exit code (32 bits)');
      break;
    case 'error': {
      const e = f.error as { category?: unknown; message?: unknown } | undefined;
      if (!e || typeof e.category !== 'string' || typeof e.message !== 'string') bad('an error needs a category and a message');
      break;
    }
    case 'eof':
    case 'close':
      break;
    default:
      bad(`unknown event ${JSON.stringify(f.event ?? null)}`);
  }
  return f as unknown as StreamFrame;
}

/** The params of `openSession`, checked (BAD_USER_INPUT naming what is wrong otherwise). */
export function openSessionParams(value: unknown): OpenSessionParams {
  const p = (value ?? {}) as Record<string, unknown>;
  const bad = (problem: string): never => {
    throw new BadInputError(`${OPEN_SESSION}: ${problem}`, { method: OPEN_SESSION });
  };
  if (!isSessionId(p.session)) bad('session must be an id of 1 to 100 characters');
  if (typeof p.driver !== 'string' || !p.driver) bad('driver must name a driver');
  if (typeof p.environmentId !== 'string' || !p.environmentId) bad('environmentId must name an environment');
  if (p.console !== undefined && typeof p.console !== 'boolean') bad('console must be true or false');
  if (p.tty !== undefined && typeof p.tty !== 'boolean') bad('tty must be true or false');
  if ((p.columns !== undefined && !isTerminalSize(p.columns)) || (p.rows !== undefined && !isTerminalSize(p.rows))) bad('columns and rows must be whole numbers from 1 to 10000');
  if (p.console === true) {
    if (p.command !== undefined) bad('a console session takes no command');
  } else if (!Array.isArray(p.command) || !p.command.length || p.command.some((a) => typeof a !== 'string')) {
    bad('command must be a non-empty array of strings');
  }
  return p as unknown as OpenSessionParams;
}

/** `bytes` cut into slices of at most `SESSION_CHUNK_BYTES`. */
export function chunksOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += SESSION_CHUNK_BYTES) out.push(bytes.subarray(at, at + SESSION_CHUNK_BYTES));
  return out;
}
