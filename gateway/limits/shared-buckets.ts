import Redis from 'ioredis';
import type { Logger } from '../logging/logger';
import type { BucketsFactory } from './request-limits';
import { RateBuckets, TokenBuckets } from './token-buckets';

/**
 * One take of a token bucket, atomically on Redis: KEYS[1] the bucket (a hash of its tokens `t`
 * and the time `a` they were counted at, in Redis's clock so that replicas' clocks do not matter),
 * ARGV[1] its tokens a minute. Returns 0 when a token was taken, else the seconds until one is
 * there. The key expires once the bucket would be full again (a full bucket is a missing one).
 */
const TAKE_SCRIPT = `
local cap = tonumber(ARGV[1])
local perMs = cap / 60000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local saved = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = cap
if saved[1] then tokens = math.min(cap, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * perMs) end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.max(1, math.ceil((1 - tokens) / perMs / 1000))
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / perMs) + 1000)
return wait
`;

/** How long a command may take before the local buckets answer instead (a Redis that hangs must not hold requests). */
const COMMAND_TIMEOUT_MS = 250;

/** After a failed command, how long the local buckets answer before Redis is tried again. */
const RETRY_AFTER_FAILURE_MS = 1000;

/** An ioredis client with the take script. */
type ScriptedRedis = Redis & { rspTakeToken(key: string, perMinute: number): Promise<number> };

/**
 * Rate buckets shared by every gateway replica on one Redis (`REDIS_URL`), under the
 * installation's key prefix (`<prefix>rate:<kind>:<key>`): a client reaching N replicas gets the
 * rates once, not N times. When Redis fails or is slow (over 250 ms), each replica counts in its own
 * memory again until Redis answers (a warning per outage): a request is never refused, nor failed,
 * because Redis is down.
 */
export class SharedRateBuckets {
  private readonly redis: ScriptedRedis;
  private downUntil = 0;
  private warned = false;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    // No offline queue and no retries: a command while Redis is away fails at once, and the local buckets answer.
    this.redis = new Redis(url, { lazyConnect: false, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: COMMAND_TIMEOUT_MS }) as ScriptedRedis;
    this.redis.defineCommand('rspTakeToken', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    this.redis.on('error', (err: Error) => this.failed(err));
    this.redis.on('ready', () => {
      if (this.warned) this.logger.info('rate limits (Redis) shared by the replicas again');
      this.warned = false;
      this.downUntil = 0;
    });
  }

  /** The `BucketsFactory` of `RequestLimits`: shared buckets of `kind`. */
  readonly factory: BucketsFactory = (kind, perMinute) => this.buckets(kind, perMinute);

  /** Buckets of `kind` with `perMinute` tokens a minute, counted on Redis, locally while it fails. */
  buckets(kind: string, perMinute: number): RateBuckets {
    const local = new TokenBuckets(perMinute);
    return {
      perMinute,
      take: (key) => {
        if (perMinute <= 0) return 0;
        if (Date.now() < this.downUntil) return local.take(key);
        return this.redis.rspTakeToken(`${this.prefix}rate:${kind}:${key}`, perMinute).then(Number, (err: Error) => {
          this.failed(err);
          return local.take(key);
        });
      },
    };
  }

  /** Closes the Redis connection. */
  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private failed(err: Error): void {
    this.downUntil = Date.now() + RETRY_AFTER_FAILURE_MS;
    if (this.warned) return;
    this.warned = true;
    this.logger.warn({ err }, 'rate limits (Redis) unreachable: each replica counts on its own until it is back');
  }
}
