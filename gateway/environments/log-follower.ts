import type { LogRead } from '../../drivers/contract';
import { isRspError } from '../errors';

/** How often a follower asks for what was written since its last read, when the last read had nothing new. */
export const LOG_POLL_MS = 1000;

/** What a follower yields: the next part of the log, or, last, why the follow ended (the resolver raises it as the final result). */
export type FollowedLog = { read: LogRead; error?: undefined } | { read?: undefined; error: unknown };

/** The categories after which a follower tries again at its next poll (the environment is busy, its host does not answer now). */
const TRANSIENT = new Set(['CONFLICT', 'UNAVAILABLE', 'TIMEOUT']);

/**
 * Follows an environment's log by reading it again from the cursor of the previous read, at the
 * reader's pace: a read happens only when the subscriber asks for more, so nothing piles up for a
 * slow one. The first read is the last `tail` lines (or what follows `cursor`); afterwards only
 * reads with new text are handed on. A transient failure (CONFLICT while the environment is being
 * rebuilt or moved, UNAVAILABLE, TIMEOUT) is retried at the next poll; any other (NOT_FOUND once
 * it is destroyed or out of the caller's sight, FORBIDDEN, UNSUPPORTED_OPERATION) is yielded as
 * the last item, so the subscriber is told it as a GraphQL error and its connection stays.
 */
export class LogFollower implements AsyncIterableIterator<FollowedLog> {
  private closed = false;
  private wake: (() => void) | undefined;
  private first = true;

  constructor(
    private readonly read: (from: { cursor?: string; tail?: number }) => Promise<LogRead>,
    private cursor: string | undefined,
    private readonly tail: number,
    private readonly pollMs = LOG_POLL_MS,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<FollowedLog> {
    return this;
  }

  async next(): Promise<IteratorResult<FollowedLog>> {
    while (!this.closed) {
      const first = this.first;
      const got = await this.poll();
      if (got.error !== undefined) return { done: false, value: { error: got.error } };
      if (this.closed) break;
      if (got.read && (got.read.text !== '' || first)) return { done: false, value: { read: got.read } };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return { done: true, value: undefined };
  }

  async return(): Promise<IteratorResult<FollowedLog>> {
    this.closed = true;
    this.wake?.();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<FollowedLog>> {
    this.closed = true;
    this.wake?.();
    throw error;
  }

  /** One read from the cursor: nothing after a transient failure, the error (closing the follow) after any other. */
  private async poll(): Promise<Partial<FollowedLog>> {
    try {
      const read = await this.read(this.cursor === undefined ? { tail: this.tail } : { cursor: this.cursor });
      this.cursor = read.cursor;
      this.first = false;
      return { read };
    } catch (error) {
      if (isRspError(error) && TRANSIENT.has(error.category)) return {};
      this.closed = true;
      return { error };
    }
  }
}
