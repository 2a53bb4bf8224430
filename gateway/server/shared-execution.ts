import {
  createSourceEventStream,
  execute,
  ExecutionArgs,
  ExecutionResult,
  FragmentDefinitionNode,
  GraphQLError,
  Kind,
  locatedError,
  OperationDefinitionNode,
  print,
  SelectionSetNode,
  subscribe,
} from 'graphql';
import { mapSchema, MapperKind } from '@graphql-tools/utils';
import type { GraphQLSchema } from 'graphql';
import type { WebSocket } from 'ws';
import type { Principal } from '../auth/principal';
import { BoundedStream } from '../metrics/bounded-stream';

/**
 * Subscription fields whose results depend only on the event and on the subscriber's visibility
 * class (authorization happens when the subscription starts, or per event in the stream's filter):
 * each event is executed and serialized once per distinct query, variables and class, and the
 * same bytes go to every subscriber that asked it.
 */
export const SHARED_SUBSCRIPTION_FIELDS: ReadonlySet<string> = new Set(['hostMetrics', 'environmentMetrics', 'siteMetrics', 'events']);

/** The graphql-ws subscription a context belongs to, so its events can be written straight to the socket. */
export interface SubscriptionSocket {
  /** The graphql-ws subscription id. */
  id: string;
  socket: WebSocket;
}

/** What the shared path needs from the GraphQL context. */
interface SharedContext {
  actor?: Principal;
  subscription?: SubscriptionSocket;
}

/** Options of `createSharedSubscribe`. */
export interface SharedSubscribeOptions {
  /** Shapes a result before it is sent (the gateway formats errors as graphql-ws `onNext` does). */
  formatResult?: (result: ExecutionResult) => ExecutionResult;
  /** Bytes a subscriber's socket may hold unsent before its events wait (and drop) in its bounded buffer. */
  socketHighWaterBytes?: number;
}

/**
 * A serialized `next` payload with a hole wherever the query asked `dropped` (the subscriber's
 * own drop count); `parts.join(String(dropped))` is the payload JSON.
 */
interface PayloadTemplate {
  parts: string[];
  /** The payload with no drop, shared by every subscriber that dropped nothing. */
  undropped: string;
  /** `undropped` and the frame's closing brace as UTF-8, encoded once for every subscriber. */
  undroppedTail: Buffer;
}

/** Marks a `dropped` value in a result before it is serialized; JSON turns it into `DROPPED_JSON`. */
const DROPPED_MARK = '\u0000rsp:dropped\u0000';
const DROPPED_JSON = JSON.stringify(DROPPED_MARK);
const DEFAULT_HIGH_WATER_BYTES = 16 * 1024;

/** Per schema: the same schema whose shared root fields return the event as is, synchronously. */
const eventSchemas = new WeakMap<GraphQLSchema, GraphQLSchema>();

/**
 * The schema events are executed on. The shared root fields only hand the event on (their
 * arguments were checked when the subscription started), so their resolvers are replaced by the
 * identity: type-graphql's wrapper (argument validation, middlewares) would make every execution
 * asynchronous for nothing.
 */
function eventSchemaOf(schema: GraphQLSchema): GraphQLSchema {
  let mapped = eventSchemas.get(schema);
  if (!mapped) {
    mapped = mapSchema(schema, { [MapperKind.SUBSCRIPTION_ROOT_FIELD]: (config, fieldName) => (SHARED_SUBSCRIPTION_FIELDS.has(fieldName) ? { ...config, resolve: (event: unknown) => event } : config) });
    eventSchemas.set(schema, mapped);
  }
  return mapped;
}

/** Payload templates of one event, by query key (weakly held: gone with the event). */
const templatesByEvent = new WeakMap<object, Map<string, PayloadTemplate | Promise<PayloadTemplate>>>();

/** The socket subscriptions of one query key, and the template of the last event one of them asked. */
interface SharedQuery {
  key: string;
  subscribers: number;
  event: unknown;
  template: PayloadTemplate | Promise<PayloadTemplate> | undefined;
}

/** Queries with at least one socket subscription, by key. */
const sharedQueries = new Map<string, SharedQuery>();

function acquireQuery(key: string): SharedQuery {
  let query = sharedQueries.get(key);
  if (!query) sharedQueries.set(key, (query = { key, subscribers: 0, event: undefined, template: undefined }));
  query.subscribers += 1;
  return query;
}

function releaseQuery(query: SharedQuery): void {
  query.subscribers -= 1;
  if (query.subscribers === 0 && sharedQueries.get(query.key) === query) sharedQueries.delete(query.key);
}

/**
 * graphql-ws `subscribe`. For the shared fields, each event is executed and serialized once per
 * (event, document, variables, visibility class), and when the context carries the subscriber's
 * socket the `next` frame (a per-subscription prefix + the shared payload) is written straight to
 * it from the stream's bounded buffer: no async iterator step, promise or `JSON.stringify` per
 * subscriber. The buffer keeps drop-oldest with its counter: a socket holding more than the high
 * water mark unsent makes events wait there, so a slow subscriber neither slows the others nor
 * grows memory. Other fields run as graphql-js `subscribe`.
 */
export function createSharedSubscribe(options: SharedSubscribeOptions = {}): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const highWater = options.socketHighWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
  const format = options.formatResult ?? ((r: ExecutionResult) => r);
  return async (args) => {
    const field = rootField(args);
    if (!field || !SHARED_SUBSCRIPTION_FIELDS.has(field.name)) return subscribe(args);
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in (source as object))) return source as ExecutionResult;
    const context = (args.contextValue ?? {}) as SharedContext;
    const key = `${visibilityClass(context.actor)}\n${args.operationName ?? ''}\n${JSON.stringify(args.variableValues ?? {})}\n${print(args.document)}`;
    const eventSchema = eventSchemaOf(args.schema);
    const droppedKeys = responseKeysOf(field.selectionSet, 'dropped', args.document.definitions);
    const build = (payload: unknown) => {
      const result = execute({ ...args, schema: eventSchema, rootValue: payload });
      return result instanceof Promise ? result.then((r) => templateFor(format(r), field.responseKey, droppedKeys)) : templateFor(format(result), field.responseKey, droppedKeys);
    };
    const cached = (payload: unknown): PayloadTemplate | Promise<PayloadTemplate> => {
      if (typeof payload !== 'object' || payload === null) return build(payload);
      let byQuery = templatesByEvent.get(payload);
      if (!byQuery) templatesByEvent.set(payload, (byQuery = new Map()));
      let template = byQuery.get(key);
      if (!template) byQuery.set(key, (template = build(payload)));
      return template;
    };
    const last = (stream: unknown) => finalResult(stream, field.responseKey);
    if (!(source instanceof BoundedStream) || !context.subscription) return iterate(source as AsyncIterable<unknown>, cached, last);
    // The subscribers of one query share its last event's template: the usual lookup of a fanned-out event is one comparison.
    const query = acquireQuery(key);
    source.onEnded(() => releaseQuery(query));
    const templateOf = (payload: unknown): PayloadTemplate | Promise<PayloadTemplate> => {
      if (query.event === payload && query.template) return query.template;
      const template = cached(payload);
      query.event = payload;
      query.template = template;
      return template;
    };
    return pipeToSocket(source, context.subscription, templateOf, highWater, last);
  };
}

/** Serialized results of executions shared by many subscribers, by result (weakly held: gone with the result). */
const resultTemplates = new WeakMap<ExecutionResult, PayloadTemplate>();

/**
 * Results executed once for many subscribers (the federation's shared subscriptions: every
 * subscriber of one execution gets the same result object) written straight to one subscriber's
 * socket as the site writes its own events: each result serialized once whoever receives it, the
 * frames batched (FrameWriter), `stream`'s bounded buffer keeping what a socket above the high
 * water mark cannot take yet (drop-oldest). The returned iterator only ends (graphql-ws waits on
 * it); an error the stream was ended with is the last result, located at `responseKey`.
 */
export function pipeResultsToSocket(stream: BoundedStream<ExecutionResult>, subscription: SubscriptionSocket, responseKey: string, highWater = DEFAULT_HIGH_WATER_BYTES): AsyncIterableIterator<ExecutionResult> {
  const templateOf = (payload: unknown): PayloadTemplate => {
    const result = payload as ExecutionResult;
    let template = resultTemplates.get(result);
    if (!template) resultTemplates.set(result, (template = templateFor(result, responseKey, [])));
    return template;
  };
  return pipeToSocket(stream as BoundedStream<unknown, unknown>, subscription, templateOf, highWater, (s) => finalResult(s, responseKey));
}

/** The shared path over a socket: events go from the stream to the socket; the returned iterator only ends. */
function pipeToSocket(stream: BoundedStream<unknown, unknown>, { id, socket }: SubscriptionSocket, templateOf: (payload: unknown) => PayloadTemplate | Promise<PayloadTemplate>, highWater: number, last: (stream: unknown) => ExecutionResult | undefined): AsyncIterableIterator<ExecutionResult> {
  const prefix = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
  const queue = frameWriter.queueOf(socket);
  // Called once the socket took a write while this stream held events back: what waited follows.
  const resume = () => stream.resume();
  const send = (t: PayloadTemplate, dropped: number) => frameWriter.write(queue, prefix, dropped === 0 ? t.undroppedTail : Buffer.from(`${t.parts.join(String(dropped))}}`));
  // Only when a query runs asynchronous resolvers: frames keep the events' order.
  let ordered: Promise<void> | undefined;
  stream.pipe({
    writable: () => {
      if (socket.readyState === 1 && queue.unsent() + queue.length <= highWater && !ordered) return true;
      queue.waiting.add(resume);
      return false;
    },
    write: (event, dropped) => {
      const template = templateOf(event);
      if (!(template instanceof Promise)) return send(template, dropped);
      const after: Promise<void> = (ordered ?? Promise.resolve())
        .then(() => template)
        .then((t) => send(t, dropped), () => undefined)
        .finally(() => {
          if (ordered === after) {
            ordered = undefined;
            stream.resume();
          }
        });
      ordered = after;
    },
  });
  let ended: ((r: IteratorResult<ExecutionResult>) => void) | undefined;
  // The stream ended by its publisher (the subscriber may no longer see it): its last word, then done.
  let told = false;
  const afterEnd = (): IteratorResult<ExecutionResult> => {
    const result = told ? undefined : last(stream);
    told = true;
    return result ? { value: result, done: false } : { value: undefined, done: true };
  };
  stream.onEnded(() => {
    const resolve = ended;
    ended = undefined;
    resolve?.(afterEnd());
  });
  const end = async (): Promise<IteratorResult<ExecutionResult>> => {
    told = true;
    await stream.return();
    ended?.({ value: undefined, done: true });
    return { value: undefined, done: true };
  };
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    // graphql-ws waits on this until the subscription completes or the socket closes.
    next: () => (stream.isClosed ? Promise.resolve(afterEnd()) : new Promise((resolve) => (ended = resolve))),
    return: end,
    throw: async (e?: unknown) => {
      await end();
      throw e instanceof Error ? e : new GraphQLError(String(e));
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * A flush that writes to at least this many sockets is a fan-out: the next one waits until the
 * fan-out window after it (see `fanoutWindowMs`), so a steady stream of events reaches each
 * subscriber a few at a time in one system call (the write to the kernel is most of the cost of a
 * delivered event).
 */
const FANOUT_SOCKETS = 64;
/** Shortest fan-out window (ms): at most this much added latency while fewer than ~133 events/s reach each socket. */
export const FANOUT_FLUSH_MIN_MS = 40;
/** Longest fan-out window (ms): what an event may wait at most, however high the rate. */
export const FANOUT_FLUSH_MAX_MS = 60;
/** Window (ms) per event/s reaching each socket, between the shortest and the longest: 60 ms at 200 events/s per socket. */
const FANOUT_MS_PER_RATE = 0.3;

/**
 * The time (ms) between two fan-out flushes at `rate` events/s per socket. A write costs the
 * gateway about the same whether it carries 4 frames or 16 (bench:metrics --perFlush: its system
 * call is most of a delivered event's cost), so above ~133 events/s per socket the window grows
 * with the rate, from 40 ms to 60 ms at 200 events/s and beyond: 12 frames per write rather than 8
 * at 200 events/s, for at most 20 ms more latency, only while the rate is that high (the p99 goal
 * of 100 ms leaves no room for more on a 2-core machine).
 */
export function fanoutWindowMs(rate: number): number {
  if (!(rate > 0)) return FANOUT_FLUSH_MIN_MS;
  return Math.min(FANOUT_FLUSH_MAX_MS, Math.max(FANOUT_FLUSH_MIN_MS, rate * FANOUT_MS_PER_RATE));
}

/** The frames queued for one socket until the next flush, and the streams waiting for it to take more. */
class SocketQueue {
  /** Bytes queued (counted with the socket's unsent bytes against the high water mark). */
  length = 0;
  /**
   * Each queued frame's UTF-8 text as two parts in a row (the subscription's head, the shared
   * payload), in the first `count` entries. A flush swaps it with `spare` and empties it once
   * written: the two arrays are kept from flush to flush, so queuing a frame allocates nothing once
   * they have grown to a flush's size.
   */
  parts: Array<Buffer | undefined> = [];
  /** The other array of `parts`, empty. */
  spare: Array<Buffer | undefined> = [];
  /** Parts queued in `parts`. */
  count = 0;
  /** True while the queue is in the writer's list of the next flush. */
  pending = false;
  /** Resumes of streams that found the socket full: called after each write it takes. */
  readonly waiting = new Set<() => void>();

  /** True when the socket negotiated no extension (no compression): frames may then be framed here. Fixed at the handshake, before any subscription. */
  readonly plain: boolean;

  /** The write state of the socket under ws and ws's sender, when there are (ws's `bufferedAmount` adds their byte counts). */
  private readonly unsentOf: { state: { length: number }; sender: { _bufferedBytes: number } } | undefined;

  constructor(readonly socket: WebSocket) {
    // ws's `extensions` getter joins the keys of an object: read once, not at every flush.
    this.plain = socket.extensions === '';
    const inner = socket as unknown as { _socket?: { _writableState?: { length: number } }; _sender?: { _bufferedBytes: number } };
    const state = inner._socket?._writableState;
    this.unsentOf = state && inner._sender ? { state, sender: inner._sender } : undefined;
  }

  /** Bytes the socket holds unsent: ws's `bufferedAmount`, read without its getter (asked for every event of every subscriber). */
  unsent(): number {
    const of = this.unsentOf;
    return of ? of.state.length + of.sender._bufferedBytes : this.socket.bufferedAmount;
  }

  /** The callback of every write to the socket (one function, so Node coalesces the calls of one turn). */
  readonly written = (err?: Error | null): void => {
    if (err || this.waiting.size === 0) return;
    const resumes = [...this.waiting];
    this.waiting.clear();
    for (const resume of resumes) resume();
  };
}

/**
 * Writes the frames queued for each socket together: one system call per socket and flush
 * instead of one per frame (when several events reach a subscriber at once, or one socket carries
 * several subscriptions). A flush runs at the end of the turn of the event loop that queued the
 * first frame, unless the last one was a fan-out (FANOUT_SOCKETS sockets or more) less than the
 * fan-out window ago: then it runs when that window is up, with whatever was queued meanwhile.
 * The window follows the rate of frames per socket the fan-outs carry (`fanoutWindowMs`).
 * Sparse events (an operation's steps to its few watchers) go at once. Per frame, queuing is two
 * pushes on the socket's queue: no lookup, closure or promise.
 */
class FrameWriter {
  private readonly queues = new WeakMap<WebSocket, SocketQueue>();
  /** Queues holding frames, in the order they got their first. */
  private pending: SocketQueue[] = [];
  private scheduled = false;
  /** When the last fan-out flush ran (performance.now()), or −Infinity. */
  private lastFanout = -Infinity;
  /** The time (ms) the next flush waits after the last fan-out. */
  private window = FANOUT_FLUSH_MIN_MS;
  private static readonly TEXT = { binary: false };

  /** The queue of `socket` (one per socket, shared by its subscriptions). */
  queueOf(socket: WebSocket): SocketQueue {
    let queue = this.queues.get(socket);
    if (!queue) this.queues.set(socket, (queue = new SocketQueue(socket)));
    return queue;
  }

  /**
   * Queues a text frame, its UTF-8 text in two parts (the subscription's own head, the payload
   * shared by every subscriber): no copy is made until the flush frames them.
   */
  write(queue: SocketQueue, head: Buffer, tail: Buffer): void {
    const parts = queue.parts;
    parts[queue.count++] = head;
    parts[queue.count++] = tail;
    queue.length += head.length + tail.length;
    if (!queue.pending) {
      queue.pending = true;
      this.pending.push(queue);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      const wait = this.lastFanout + this.window - performance.now();
      if (wait > 0) setTimeout(this.flush, wait);
      else setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queues = this.pending;
    this.pending = [];
    const fanout = queues.length >= FANOUT_SOCKETS;
    const previous = this.lastFanout;
    let queuedParts = 0;
    if (fanout) this.lastFanout = performance.now();
    for (const queue of queues) {
      const { socket, parts, count } = queue;
      queuedParts += count;
      queue.parts = queue.spare;
      queue.spare = parts;
      queue.count = 0;
      queue.length = 0;
      queue.pending = false;
      if (socket.readyState === 1) {
        const raw = (socket as unknown as { _socket?: RawSocket })._socket;
        if (raw && queue.plain && senderIdle(socket)) {
          // The frames framed here into one buffer, one write to the socket (what ws's sender would
          // write frame by frame: unmasked server text frames, no extension in use).
          raw.write(textFrames(parts as Buffer[], count), queue.written);
        } else {
          // ws corks around each frame too; the outer cork makes the whole batch one write.
          raw?.cork();
          for (let i = 0; i < count; i += 2) socket.send(Buffer.concat([parts[i]!, parts[i + 1]!]), FrameWriter.TEXT, queue.written);
          raw?.uncork();
        }
      }
      // The payloads are copied (or the socket is gone): the queue holds on to none of them
      // (a loop, not Array#fill: a call into C++ per write for a dozen entries).
      for (let i = 0; i < count; i++) parts[i] = undefined;
    }
    // Frames per socket and second since the previous fan-out: the rate the next window is set for.
    if (fanout) this.window = fanoutWindowMs((queuedParts / 2 / queues.length / (this.lastFanout - previous)) * 1000);
  };
}

/** The socket under a ws WebSocket. */
interface RawSocket {
  cork(): void;
  uncork(): void;
  write(data: Buffer, cb: (err?: Error | null) => void): boolean;
}

/** ws's sender of a socket, as far as `senderIdle` reads it. */
interface WsSender {
  _state: number;
  _queue: unknown[];
  _firstFragment: boolean;
  _bufferedBytes: number;
}

/**
 * True when frames may be written to the socket under ws's sender: it holds nothing queued and is
 * between messages (and, checked by the caller, no extension is in use); otherwise frames go
 * through `send`, which keeps their order behind what it holds.
 */
function senderIdle(socket: WebSocket): boolean {
  const sender = (socket as unknown as { _sender?: WsSender })._sender;
  return !!sender && sender._state === 0 && sender._queue.length === 0 && sender._firstFragment && sender._bufferedBytes === 0;
}

/**
 * WebSocket text frames (RFC 6455: FIN, opcode 1, unmasked as a server sends them) in one buffer;
 * `parts` holds two parts per frame (head, tail), whose concatenation is the frame's UTF-8 text,
 * in its first `count` entries.
 */
export function textFrames(parts: readonly Buffer[], count = parts.length): Buffer {
  let size = 0;
  for (let i = 0; i < count; i += 2) {
    const n = parts[i]!.length + parts[i + 1]!.length;
    size += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < count; i += 2) {
    const head = parts[i]!;
    const tail = parts[i + 1]!;
    const n = head.length + tail.length;
    out[at++] = 0x81;
    if (n < 126) out[at++] = n;
    else if (n < 65536) {
      out[at++] = 126;
      out.writeUInt16BE(n, at);
      at += 2;
    } else {
      out[at++] = 127;
      out.writeBigUInt64BE(BigInt(n), at);
      at += 8;
    }
    // TypedArray#set copies within V8 (Buffer#copy is a call into C++ per part).
    out.set(head, at);
    at += head.length;
    out.set(tail, at);
    at += tail.length;
  }
  return out;
}

const frameWriter = new FrameWriter();

/** The shared path without a socket: an async iterator of the shared results. */
function iterate(source: AsyncIterable<unknown>, templateOf: (payload: unknown) => PayloadTemplate | Promise<PayloadTemplate>, last: (stream: unknown) => ExecutionResult | undefined): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  let told = false;
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: async () => {
      const r = await it.next();
      if (r.done) {
        const result = told ? undefined : last(source);
        told = true;
        return result ? { value: result, done: false } : { value: undefined, done: true };
      }
      const dropped = (r.value as { droppedCount?: number } | null)?.droppedCount ?? 0;
      const t = await templateOf(r.value);
      return { value: JSON.parse(t.parts.join(String(dropped))) as ExecutionResult, done: false };
    },
    return: async () => {
      told = true;
      await it.return?.();
      return { value: undefined, done: true };
    },
    throw: async (e?: unknown) => {
      told = true;
      await it.return?.();
      throw e instanceof Error ? e : new GraphQLError(String(e));
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * What a subscriber is told when its stream was ended by the publisher with an error (it may no
 * longer see what it watched: NOT_FOUND, FORBIDDEN): that error, located at the root field, as the
 * last result before the subscription completes. Undefined otherwise.
 */
function finalResult(stream: unknown, responseKey: string): ExecutionResult | undefined {
  if (!(stream instanceof BoundedStream) || stream.error === undefined) return undefined;
  return { data: null, errors: [locatedError(stream.error, undefined, [responseKey])] };
}

/** Serializes a result once, with a hole at each `dropped` of the root field's object. */
function templateFor(result: ExecutionResult, rootKey: string, droppedKeys: string[]): PayloadTemplate {
  const root = result.data?.[rootKey] as Record<string, unknown> | null | undefined;
  if (root && typeof root === 'object') for (const k of droppedKeys) if (k in root) root[k] = DROPPED_MARK;
  const { errors, ...rest } = result;
  const json = JSON.stringify(errors?.length ? { ...rest, errors: errors.map((e) => (e instanceof GraphQLError ? e.toJSON() : e)) } : rest);
  const parts = json.split(DROPPED_JSON);
  const undropped = parts.join('0');
  return { parts, undropped, undroppedTail: Buffer.from(`${undropped}}`) };
}

/** Who sees the same result of an event: site admins, or the members of a group with one role. */
function visibilityClass(actor: Principal | undefined): string {
  if (!actor || actor.kind === 'anonymous') return 'anonymous';
  return actor.siteAdmin ? 'site-admin' : `${actor.groupId ?? ''}:${actor.role}`;
}

/** The response keys (aliases) under which `selectionSet` asks the field `name`, through fragments too. */
function responseKeysOf(selectionSet: SelectionSetNode | undefined, name: string, definitions: ExecutionArgs['document']['definitions'], seen = new Set<string>()): string[] {
  const keys: string[] = [];
  for (const s of selectionSet?.selections ?? []) {
    if (s.kind === Kind.FIELD) {
      if (s.name.value === name) keys.push(s.alias?.value ?? name);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      keys.push(...responseKeysOf(s.selectionSet, name, definitions, seen));
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const fragment = definitions.find((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === s.name.value);
      keys.push(...responseKeysOf(fragment?.selectionSet, name, definitions, seen));
    }
  }
  return [...new Set(keys)];
}

/** The first root field of the operation to run, when it is a subscription. */
export function rootField(args: ExecutionArgs): { name: string; responseKey: string; selectionSet?: SelectionSetNode } | undefined {
  const ops = args.document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = args.operationName ? ops.find((o) => o.name?.value === args.operationName) : ops[0];
  if (op?.operation !== 'subscription') return undefined;
  const first = op.selectionSet.selections[0];
  return first?.kind === Kind.FIELD ? { name: first.name.value, responseKey: first.alias?.value ?? first.name.value, selectionSet: first.selectionSet } : undefined;
}
