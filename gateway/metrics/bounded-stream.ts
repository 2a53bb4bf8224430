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
 * Takes the events of `sources` as they are published into a ring buffer of `capacity` events
 * and hands them to one subscriber at its own pace. A slow subscriber never holds up the
 * publisher or the others, and its memory stays bounded: when the buffer is full the oldest
 * event is dropped and counted.
 */
export function boundedStream<T, U = T>(sources: Array<EventSource<T>>, options: BoundedStreamOptions<T, U>): AsyncIterableIterator<U> {
  const capacity = Math.max(1, options.capacity);
  const ring: Array<T | undefined> = new Array(capacity);
  let head = 0;
  let size = 0;
  let dropped = 0;
  let closed = false;
  let waiting: ((r: IteratorResult<U>) => void) | undefined;
  const shape = (e: T): U => (options.map ? options.map(e, dropped) : (e as unknown as U));

  const offer = (event: T) => {
    if (closed || (options.filter && !options.filter(event))) return;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w({ value: shape(event), done: false });
      return;
    }
    if (size === capacity) {
      ring[head] = undefined;
      head = (head + 1) % capacity;
      size -= 1;
      dropped += 1;
      options.onDrop?.();
    }
    ring[(head + size) % capacity] = event;
    size += 1;
  };

  const close = async (): Promise<IteratorResult<U>> => {
    if (!closed) {
      closed = true;
      ring.fill(undefined);
      size = 0;
      waiting?.({ value: undefined, done: true });
      waiting = undefined;
      for (const stop of stops) stop();
      options.onClose?.();
    }
    return { value: undefined, done: true };
  };

  const stops = sources.map((source) => source(offer));

  return {
    next(): Promise<IteratorResult<U>> {
      if (size > 0) {
        const event = ring[head] as T;
        ring[head] = undefined;
        head = (head + 1) % capacity;
        size -= 1;
        return Promise.resolve({ value: shape(event), done: false });
      }
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return: close,
    throw: async (e?: unknown) => {
      await close();
      throw e;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
