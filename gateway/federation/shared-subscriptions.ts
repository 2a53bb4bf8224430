import { print } from 'graphql';
import type { ExecutionRequest, ExecutionResult, Executor } from '@graphql-tools/utils';
import { isAsyncIterable } from '@graphql-tools/utils';
import { BoundedStream } from '../metrics/bounded-stream';
import { pipeResultsToSocket, SubscriptionSocket } from '../server/shared-execution';

/** Events kept for a federation subscriber that has not read them yet; older ones are dropped first. */
export const SUBSCRIBER_CAPACITY = 1_000;

/** What a site's executor answers a subscription with: its events, or one result (an error). */
type Opened = AsyncIterator<ExecutionResult> | ExecutionResult;

/** A subscription's answer: its results, or one result (an error) when it was refused. */
type Subscribed = ExecutionResult | AsyncIterable<ExecutionResult>;

/** A subscriber's graphql-ws socket, where its results are written straight (pipeResultsToSocket), and its root field's response key. */
export interface SocketTarget {
  subscription: SubscriptionSocket;
  responseKey: string;
}

/**
 * Subscriptions that would produce the same results read one: `open` runs for the first of a
 * `keyOf`, and each later one with that key reads the same stream of results, through a bounded
 * buffer of its own (a slow subscriber drops its oldest results and never holds up the others).
 * The stream opens with the first subscriber and closes with the last. A subscriber with a socket
 * (`socketOf`) gets each result as one serialization written to its socket, shared with every
 * other subscriber of the stream.
 */
export function sharedStreams<A>(open: (args: A) => unknown, keyOf: (args: A) => string, socketOf: (args: A) => SocketTarget | undefined = () => undefined): (args: A) => Promise<Subscribed> {
  const upstreams = new Map<string, Upstream>();
  return (args) => {
    const key = keyOf(args);
    let upstream = upstreams.get(key);
    if (!upstream) {
      const created: Upstream = new Upstream(() => open(args), () => upstreams.get(key) === created && upstreams.delete(key));
      upstreams.set(key, (upstream = created));
    }
    return upstream.join(socketOf(args));
  };
}

/**
 * Subscriptions at one site shared among the federation's subscribers: those with the same
 * credential (`credentialOf`), document and variables read one upstream subscription of `open`
 * (sharedStreams); a site's event then crosses to the federation once, not once per subscriber.
 */
export function sharedSubscriptions(open: Executor, credentialOf: (request: ExecutionRequest) => string): Executor {
  return sharedStreams<ExecutionRequest>(open, (request) => JSON.stringify([credentialOf(request), print(request.document), request.variables ?? null, request.operationName ?? null]));
}

function isIterator(opened: Opened): opened is AsyncIterator<ExecutionResult> {
  return typeof (opened as AsyncIterator<ExecutionResult>).next === 'function';
}

/** One stream of results and the subscribers reading it. */
class Upstream {
  private readonly streams = new Set<BoundedStream<ExecutionResult>>();
  private readonly pushes = new Set<(event: ExecutionResult) => void>();
  private readonly opened: Promise<Opened>;
  private closed = false;

  constructor(open: () => unknown, private readonly onEnd: () => void) {
    this.opened = Promise.resolve()
      .then(open)
      .then((r) => (isAsyncIterable(r) ? (r as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator]() : (r as ExecutionResult)));
    void this.opened.then(
      (r) => (isIterator(r) ? this.pump(r) : this.end()),
      (e: unknown) => this.end(e),
    );
  }

  /** A new subscriber: the events from now on, or the site's one answer when it refused the subscription. */
  async join(target?: SocketTarget): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>> {
    const stream: BoundedStream<ExecutionResult> = new BoundedStream<ExecutionResult>(
      [
        (push) => {
          this.pushes.add(push);
          return () => this.pushes.delete(push);
        },
      ],
      { capacity: SUBSCRIBER_CAPACITY, onClose: () => this.left(stream) },
    );
    this.streams.add(stream);
    let opened: Opened;
    try {
      opened = await this.opened;
    } catch (e) {
      void stream.return();
      throw e;
    }
    if (!isIterator(opened)) {
      void stream.return();
      return opened;
    }
    if (target) return pipeResultsToSocket(stream, target.subscription, target.responseKey);
    const events: AsyncIterableIterator<ExecutionResult> = {
      next: async () => {
        const next = await stream.next();
        if (next.done && stream.error !== undefined) throw stream.error;
        return next;
      },
      return: () => stream.return(),
      throw: (e?: unknown) => stream.throw(e),
      [Symbol.asyncIterator]: () => events,
    };
    return events;
  }

  /** Hands each upstream event to every subscriber until the site ends the subscription. */
  private async pump(iterator: AsyncIterator<ExecutionResult>): Promise<void> {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        for (const push of this.pushes) push(next.value);
      }
      this.end();
    } catch (e) {
      this.end(e);
    }
  }

  private left(stream: BoundedStream<ExecutionResult>): void {
    this.streams.delete(stream);
    if (!this.streams.size) this.end();
  }

  /** Ends the upstream and every subscriber's stream (with `error`, what they are told last). */
  private end(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.onEnd();
    for (const stream of [...this.streams]) stream.end(error);
    void this.opened.then(
      (r) => (isIterator(r) ? r.return?.() : undefined),
      () => undefined,
    );
  }
}
