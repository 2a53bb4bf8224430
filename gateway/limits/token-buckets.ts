/** Buckets kept before full ones (idle keys) are swept away. */
const SWEEP_ABOVE = 10_000;

/** Token buckets, one per key, of `perMinute` tokens refilled at `perMinute` a minute. */
export interface RateBuckets {
  readonly perMinute: number;
  /** Takes a token of `key`'s bucket: 0 when there was one, else the seconds until there is. */
  take(key: string): number | Promise<number>;
}

/**
 * In-memory token buckets, one per key: each holds up to `perMinute` tokens and refills at
 * `perMinute` a minute; a request takes one. With several gateway replicas each one limits on
 * its own.
 */
export class TokenBuckets implements RateBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes a token of `key`'s bucket: 0 when there was one, else the seconds until there is. */
  take(key: string): number {
    if (this.perMinute <= 0) return 0;
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= SWEEP_ABOVE) this.sweep(now);
      this.buckets.set(key, (bucket = { tokens: this.perMinute, at: now }));
    } else {
      bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000));
  }

  /** Forgets the buckets that have refilled: they are as a new one would be. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) if (b.tokens + (now - b.at) * this.perMs >= this.perMinute) this.buckets.delete(key);
  }
}
