import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** How one POST to a site ended: its answer (status and body), an answer over the size limit (not read), or a failure of the connection. */
export type SiteOutcome = { kind: 'answer'; status: number; body: Buffer } | { kind: 'too-large'; status: number; bytes: number } | { kind: 'error'; error: Error };

/** A POST under way: `abort` ends it (its connection closed), its callback not called. */
export interface SiteExchange {
  abort(): void;
}

/** Most bytes of an answer's status line and headers. */
const MAX_HEAD_BYTES = 64 * 1024;
/** How long an idle connection is kept when the site does not say (`Keep-Alive: timeout=…`): under Node's default of 5 s. */
const DEFAULT_IDLE_MS = 4_000;
/** Most idle connections kept per site (node:http's Agent keeps as many). */
const MAX_IDLE = 256;
/** A header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value may not hold. */
const UNSAFE_VALUE = /[\r\n\0]/;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/** A connection to the site: its socket, the exchange it carries (none while idle), until when it may be used again. */
interface Connection {
  socket: Socket;
  reader: AnswerReader | undefined;
  usableUntil: number;
}

/**
 * POSTs to one site over HTTP/1.1, on connections kept alive between requests, with what
 * node:http's client does for this one kind of request and no more (it cost the federation about
 * as much CPU per request as the rest of a forwarded query): each request written in one write
 * (its head built from a prefix made once), the answer read by a parser for what a site answers —
 * a status line, headers, a body by Content-Length, chunked or up to the connection's end; 1xx
 * answers skipped. As many connections as requests under way; an idle one is reused until a
 * second before the site's `Keep-Alive: timeout` (DEFAULT_IDLE_MS when it does not give one), at
 * most MAX_IDLE of them kept; a query that meets one the site closed meanwhile is sent again on a
 * fresh one (`post`'s `replayable`). Failures are the errors node:http gives (`connect ECONNREFUSED …`,
 * `socket hang up`), an answer the parser cannot read a `Parse Error: …`. Idle connections do not
 * keep the process running.
 */
export class SiteConnections {
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private readonly prefix: string;
  private closed = false;

  constructor(
    private readonly url: URL,
    /** Most bytes of an answer's body read: a longer one is `too-large` (by its Content-Length, or as it comes), its connection closed. */
    private readonly maxAnswerBytes: number,
  ) {
    this.prefix = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\nAccept: application/graphql-response+json, application/json\r\nContent-Type: application/json\r\n`;
  }

  /**
   * POSTs `body` (JSON) with `headers` besides the usual; `done` is called once with how it ended,
   * unless aborted first. `replayable` (a query, which changes nothing at the site): a kept-alive
   * connection the site closed meanwhile — reset or closed before any byte of the answer came —
   * is replaced by a fresh one, once, and the request sent again. Not a mutation: the site may
   * have received it, and done it.
   */
  post(body: string, headers: Record<string, string>, done: (outcome: SiteOutcome) => void, options: { replayable?: boolean } = {}): SiteExchange {
    let head = `${this.prefix}Content-Length: ${Buffer.byteLength(body)}\r\n`;
    for (const name in headers) {
      const value = headers[name]!;
      if (!TOKEN.test(name) || UNSAFE_VALUE.test(value)) {
        queueMicrotask(() => done({ kind: 'error', error: new Error(`Invalid character in header "${name}"`) }));
        return { abort: () => undefined };
      }
      head += `${name}: ${value}\r\n`;
    }
    const request = `${head}\r\n${body}`;
    let finished = false;
    let connection: Connection;
    const send = (on: Connection, reused: boolean) => {
      connection = on;
      const reader = new AnswerReader(this.maxAnswerBytes, (outcome, reusable) => {
        if (finished) return;
        on.reader = undefined;
        if (reused && options.replayable && outcome.kind === 'error' && !reader.heard && staleConnection(outcome.error)) {
          // The site closed the idle connection as the request went out: nothing of it was answered.
          on.socket.destroy();
          return send(this.connect(), false);
        }
        finished = true;
        if (reusable !== false) this.release(on, reusable);
        else on.socket.destroy();
        done(outcome);
      });
      on.reader = reader;
      on.socket.write(request);
    };
    const idle = this.takeIdle();
    send(idle ?? this.connect(), idle !== undefined);
    return {
      abort: () => {
        if (finished) return;
        finished = true;
        connection.reader = undefined;
        connection.socket.destroy();
      },
    };
  }

  /** Ends every connection; a request under way fails with `socket hang up`. */
  close(): void {
    this.closed = true;
    for (const connection of [...this.open]) connection.socket.destroy();
  }

  /** The most recently used idle connection still usable, if any. */
  private takeIdle(): Connection | undefined {
    const now = Date.now();
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (connection.usableUntil > now && !connection.socket.destroyed && connection.socket.writable && !connection.socket.readableEnded) {
        connection.socket.ref();
        return connection;
      }
      connection.socket.destroy();
    }
    return undefined;
  }

  private connect(): Connection {
    const { hostname, port, protocol } = this.url;
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    const socket =
      protocol === 'https:'
        ? tlsConnect({ host, port: Number(port) || 443, ...(host.includes(':') || /^[\d.]+$/.test(host) ? {} : { servername: host }), ALPNProtocols: ['http/1.1'] })
        : netConnect({ host, port: Number(port) || 80 });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1_000);
    const connection: Connection = { socket, reader: undefined, usableUntil: 0 };
    this.open.add(connection);
    if (this.closed) socket.destroy();
    socket.on('data', (chunk: Buffer) => {
      // Bytes while idle: not an answer to anything; the connection is not trusted again.
      if (!connection.reader) socket.destroy();
      else connection.reader.feed(chunk);
    });
    socket.on('error', (error) => connection.reader?.fail(error));
    socket.on('close', () => {
      this.open.delete(connection);
      const at = this.idle.indexOf(connection);
      if (at >= 0) this.idle.splice(at, 1);
      connection.reader?.ended();
    });
    return connection;
  }

  /** Keeps a connection whose answer was read whole for the next request, `idleMs` at most (not one still writing a request the site answered early). */
  private release(connection: Connection, idleMs: number): void {
    if (this.closed || idleMs <= 0 || this.idle.length >= MAX_IDLE || connection.socket.destroyed || connection.socket.writableLength > 0) {
      connection.socket.destroy();
      return;
    }
    connection.usableUntil = Date.now() + idleMs;
    connection.socket.unref();
    this.idle.push(connection);
  }
}

/**
 * Reads one answer off a connection, chunk by chunk: its head (status line and headers), then its
 * body. Calls `finish` once: with the outcome and, for an answer read whole on a connection that
 * stays open, how long it may stay idle (false: close it).
 */
class AnswerReader {
  private pending: Buffer = EMPTY;
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done' = 'head';
  private status = 0;
  /** How long the connection may stay idle after this answer; 0: not kept. */
  private idleMs = DEFAULT_IDLE_MS;
  /** Body bytes still to come (Content-Length, or of the current chunk). */
  private remaining = 0;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Whether any byte of the answer came. */
  heard = false;

  constructor(
    private readonly maxBytes: number,
    private readonly finish: (outcome: SiteOutcome, reusable: number | false) => void,
  ) {}

  /** A failure of the connection. */
  fail(error: Error): void {
    this.end({ kind: 'error', error });
  }

  /** The connection closed: the end of a body read up to it, else a hang-up. */
  ended(): void {
    if (this.state === 'until-close') return this.complete(false);
    const error = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    this.fail(error);
  }

  feed(chunk: Buffer): void {
    this.heard = true;
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    try {
      this.parse();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private parse(): void {
    for (;;) {
      const buffer = this.pending;
      switch (this.state) {
        case 'head': {
          const end = buffer.indexOf(CRLF_CRLF);
          if (end < 0) {
            if (buffer.length > MAX_HEAD_BYTES) throw parseError('Header overflow');
            return;
          }
          this.pending = buffer.subarray(end + 4);
          this.head(buffer.toString('latin1', 0, end));
          break;
        }
        case 'length': {
          if (!buffer.length) return;
          const taken = this.body(buffer, this.remaining);
          if (taken < 0) return;
          this.remaining -= taken;
          this.pending = buffer.subarray(taken);
          if (this.remaining === 0) return this.complete(this.idleMs);
          return;
        }
        case 'chunk-size': {
          const end = buffer.indexOf('\r\n');
          if (end < 0) {
            if (buffer.length > 1024) throw parseError('Invalid character in chunk size');
            return;
          }
          const line = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(buffer.toString('latin1', 0, end));
          if (!line) throw parseError('Invalid character in chunk size');
          this.pending = buffer.subarray(end + 2);
          this.remaining = parseInt(line[1]!, 16);
          if (this.remaining === 0) this.state = 'trailers';
          else if (this.size + this.remaining > this.maxBytes) return this.tooLarge(this.size + this.remaining);
          else this.state = 'chunk-data';
          break;
        }
        case 'chunk-data': {
          if (!buffer.length) return;
          const taken = this.body(buffer, this.remaining);
          if (taken < 0) return;
          this.remaining -= taken;
          this.pending = buffer.subarray(taken);
          if (this.remaining === 0) this.state = 'chunk-end';
          break;
        }
        case 'chunk-end': {
          if (buffer.length < 2) return;
          if (buffer[0] !== 13 || buffer[1] !== 10) throw parseError('Expected LF after chunk data');
          this.pending = buffer.subarray(2);
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const end = buffer.indexOf('\r\n');
          if (end < 0) {
            if (buffer.length > MAX_HEAD_BYTES) throw parseError('Header overflow');
            return;
          }
          this.pending = buffer.subarray(end + 2);
          if (end === 0) return this.complete(this.idleMs);
          break;
        }
        case 'until-close': {
          if (buffer.length) this.body(buffer, buffer.length);
          this.pending = EMPTY;
          return;
        }
        case 'done':
          return;
      }
    }
  }

  /** Reads an answer's status line and headers, and what its body is. */
  private head(text: string): void {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: .*)?$/.exec(lines[0]!);
    if (!status) throw parseError('Expected HTTP/');
    this.status = Number(status[2]);
    let keepAlive = status[1] === '1';
    let length: string | undefined;
    let chunked = false;
    let encoded = false;
    let hintMs: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw parseError('Invalid header token');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== value)) throw parseError('Invalid Content-Length');
        length = value;
      } else if (name === 'transfer-encoding') {
        encoded = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      } else if (name === 'connection') {
        const options = value.toLowerCase().split(',').map((o) => o.trim());
        if (options.includes('close')) keepAlive = false;
        else if (options.includes('keep-alive')) keepAlive = true;
      } else if (name === 'keep-alive') {
        const timeout = /(?:^|,)\s*timeout=(\d+)/i.exec(value);
        if (timeout) hintMs = Number(timeout[1]) * 1000 - 1000;
      }
    }
    if (this.status < 200) {
      // 100 Continue, 103 Early Hints: the answer follows; an upgrade is not one.
      if (this.status === 101) throw parseError('Unexpected upgrade');
      return;
    }
    this.idleMs = keepAlive ? Math.min(hintMs ?? DEFAULT_IDLE_MS, DEFAULT_IDLE_MS) : 0;
    if (this.status === 204 || this.status === 304) return this.complete(this.idleMs);
    if (encoded) {
      if (length !== undefined) throw parseError('Content-Length can\'t be present with Transfer-Encoding');
      this.state = chunked ? 'chunk-size' : 'until-close';
      return;
    }
    if (length !== undefined) {
      this.remaining = Number(length);
      if (this.remaining > this.maxBytes) return this.tooLarge(this.remaining);
      if (this.remaining === 0) return this.complete(this.idleMs);
      this.state = 'length';
      return;
    }
    this.state = 'until-close';
  }

  /** Takes up to `most` body bytes of `buffer`; how many it took, -1 when they are over the limit (the answer ended). */
  private body(buffer: Buffer, most: number): number {
    const taken = Math.min(most, buffer.length);
    if (this.size + taken > this.maxBytes) {
      this.tooLarge(this.size + taken);
      return -1;
    }
    this.size += taken;
    this.chunks.push(taken === buffer.length ? buffer : buffer.subarray(0, taken));
    return taken;
  }

  private tooLarge(bytes: number): void {
    this.chunks.length = 0;
    this.end({ kind: 'too-large', status: this.status, bytes });
  }

  /** The answer read whole: kept for `idleMs` unless bytes beyond it came (not an answer to anything). */
  private complete(idleMs: number | false): void {
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.end({ kind: 'answer', status: this.status, body }, this.pending.length ? false : idleMs);
  }

  private end(outcome: SiteOutcome, reusable: number | false = false): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.pending = EMPTY;
    this.finish(outcome, reusable);
  }
}

/** How a kept-alive connection the site closed meanwhile fails a request written on it: reset, a broken pipe, or a hang-up. */
function staleConnection(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/** An answer the parser cannot read, as node:http names it. */
function parseError(reason: string): Error {
  return Object.assign(new Error(`Parse Error: ${reason}`), { code: 'HPE_INVALID' });
}
