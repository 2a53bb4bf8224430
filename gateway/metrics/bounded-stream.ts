/** What a bounded stream reports when it drops. */
export interface DropReport {
  /** Events dropped so far on this stream. */
  dropped: number;
}

/** Options of `boundedStream`. */
export interface BoundedStreamOptions<T, U> {
  /** Most events kept for a subscriber that has not read them yet; older ones are dropped first. */
  capacity: number;
  /** Keeps only the events this subscriber may receive (checked before buffering). */
  filter?: (event: T) => boolean;
  /** Shapes what the subscriber receives; `dropped` is this stream's drop count so far. */
  map?: (event: T, dropped: number) => U;
  /** Called once per dropped event (e.g. a Prometheus counter). */
  onDrop?: () => void;
  /** Called once when the subscriber goes away. */
  onClose?: () => void;
}

/** A source of events: called with the function to push each event, returns what stops it. */
export type EventSource<T> = (push: (event: T) => void) => () => void;

/**
 * Where a piped stream writes its events directly (e.g. a WebSocket), instead of being read
 * through `next()`. The stream asks `writable()` before each write and keeps what the sink cannot
 * take yet in its bounded buffer; the sink calls `resume()` on the stream once it can take more.
 */
export interface StreamSink<T> {
  /** True when the sink takes an event now without buffering it beyond its own small bound. */
  writable(): boolean;
  /** Takes one event; `dropped` is the stream's drop count so far. */
  write(event: T, dropped: number): void;
}

/**
 * Takes the events of `sources` as they are published into a ring buffer of `capacity` events
 * and hands them to one subscriber at its own pace: read through `next()` (an async iterator),
 * or pushed straight into a sink after `pipe()`, with no promise per event. A slow subscriber
 * never holds up the publisher or the others, and its memory stays bounded: when the buffer is
 * full the oldest event is dropped and counted.
 */
export class BoundedStream<T, U = T> implements AsyncIterableIterator<U> {
  private readonly capacity: number;
  private readonly ring: Array<T | undefined>;
  private head = 0;
  private size = 0;
  private droppedCount = 0;
  private closed = false;
  private waiting: ((r: IteratorResult<U>) => void) | undefined;
  private sink: StreamSink<T> | undefined;
  private readonly stops: Array<() => void>;
  private failure: unknown;
  private readonly endListeners: Array<() => void> = [];

  constructor(
    sources: Array<EventSource<T>>,
    private readonly options: BoundedStreamOptions<T, U>,
  ) {
    this.capacity = Math.max(1, options.capacity);
    this.ring = new Array(this.capacity);
    this.stops = sources.map((source) => source(this.offer));
  }

  /** Events dropped so far. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** True once the subscriber went away, or the stream was ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the publisher's side ended the stream (`end(error)`), if it did. */
  get error(): unknown {
    return this.failure;
  }

  /**
   * Ends the stream from the publisher's side (the subscriber may no longer see it): its sources
   * are detached, what is buffered is dropped, and `error`, when given, is what the subscriber
   * is told last (see `error`).
   */
  end(error?: unknown): void {
    if (this.closed) return;
    this.failure = error;
    this.close();
  }

  /** Calls `listener` once the stream is closed, whoever closed it (at once if it is). */
  onEnded(listener: () => void): void {
    if (this.closed) listener();
    else this.endListeners.push(listener);
  }

  /** Sends every event from now on (and what is buffered) to `sink` instead of `next()`. */
  pipe(sink: StreamSink<T>): void {
    this.sink = sink;
    this.resume();
  }

  /** Writes buffered events to the sink while it is writable (the sink calls it when it drained). */
  resume(): void {
    const sink = this.sink;
    if (!sink) return;
    while (this.size > 0 && !this.closed && sink.writable()) sink.write(this.shift(), this.droppedCount);
  }

  /** One published event: straight to the waiting reader or writable sink, else into the ring. */
  private readonly offer = (event: T): void => {
    if (this.closed || (this.options.filter && !this.options.filter(event))) return;
    if (this.sink) {
      // Older events first: whatever waits goes out before this one, as far as the sink takes it.
      if (this.size > 0) this.resume();
      if (this.size === 0 && this.sink.writable()) {
        this.sink.write(event, this.droppedCount);
        return;
      }
    } else if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: this.shape(event), done: false });
      return;
    }
    if (this.size === this.capacity) {
      this.shift();
      this.droppedCount += 1;
      this.options.onDrop?.();
    }
    this.ring[(this.head + this.size) % this.capacity] = event;
    this.size += 1;
  };

  next(): Promise<IteratorResult<U>> {
    if (this.size > 0 && !this.sink) return Promise.resolve({ value: this.shape(this.shift()), done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Stops the stream: its sources are detached and its buffer released. */
  async return(): Promise<IteratorResult<U>> {
    this.close();
    return { value: undefined, done: true };
  }

  async throw(e?: unknown): Promise<IteratorResult<U>> {
    this.close();
    throw e;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.fill(undefined);
    this.size = 0;
    this.sink = undefined;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
    for (const stop of this.stops) stop();
    this.options.onClose?.();
    for (const listener of this.endListeners.splice(0)) listener();
  }

  private shift(): T {
    const event = this.ring[this.head] as T;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size -= 1;
    return event;
  }

  private shape(event: T): U {
    return this.options.map ? this.options.map(event, this.droppedCount) : (event as unknown as U);
  }
}

/** A `BoundedStream` over `sources` (see there). */
export function boundedStream<T, U = T>(sources: Array<EventSource<T>>, options: BoundedStreamOptions<T, U>): BoundedStream<T, U> {
  return new BoundedStream(sources, options);
}
