/**
 * How fast a verify job (`ArtifactStore.scrub`) reads a store, so production I/O keeps priority.
 * `bytesPerSecond` given: a fixed cap (0: none). Otherwise `floorBytesPerSecond` > 0: adaptive
 * (see `AdaptiveReadPacer`), never slower than the floor. Neither: as fast as the disk allows.
 */
export interface ScrubPace {
  bytesPerSecond?: number;
  floorBytesPerSecond?: number;
}

/** Paces reads: told of each read (its bytes and how long it took), says how long to wait before the next. */
export interface ReadPacer {
  /** Records one read of `bytes` that took `ms`, and gives the ms to wait before reading on (0: none). */
  afterRead(bytes: number, ms: number): number;
  /** The current rate in bytes a second (Infinity: not throttled). */
  readonly rate: number;
}

/** A clock in ms (injected in tests). */
export type Clock = () => number;

/** Reads at most `rate` bytes a second overall (across concurrent readers sharing the pacer). */
class BudgetPacer {
  private next = 0;

  constructor(private readonly now: Clock) {}

  /** Ms to wait so that `bytes` more keep to `rate` (Infinity: 0). */
  wait(bytes: number, rate: number): number {
    const now = this.now();
    if (!Number.isFinite(rate)) {
      this.next = now;
      return 0;
    }
    this.next = Math.max(this.next, now) + (bytes / rate) * 1000;
    return Math.max(0, this.next - now);
  }
}

/** A fixed cap (`RSP_REPLICA_VERIFY_BYTES_PER_SECOND` set), or none (Infinity). */
export class FixedReadPacer implements ReadPacer {
  private readonly budget: BudgetPacer;

  constructor(readonly rate: number, now: Clock = Date.now) {
    this.budget = new BudgetPacer(now);
  }

  afterRead(bytes: number): number {
    return this.budget.wait(bytes, this.rate);
  }
}

/** Tuning of `AdaptiveReadPacer`; the defaults are what the gateway uses. */
export interface AdaptivePacerOptions {
  /** Never slower than this (bytes a second). */
  floorBytesPerSecond: number;
  /**
   * Reads per window: each window's latency is its fastest read's. Default 64: verify's own
   * concurrent reads and hashes (the thread pool, the event loop, CPU time shared with other
   * processes) delay most reads a little, and a minimum over few reads takes that jitter for
   * congestion; other I/O queueing at the disk delays every read.
   */
  window?: number;
  /** Windows the baseline is the minimum of (older ones age out: the baseline can rise again). Default 64. */
  history?: number;
  /** Latency over `congested` × baseline + `slackMs` halves the rate. Default 2. */
  congested?: number;
  /** Latency at most `calm` × baseline + `slackMs` doubles it (up to unthrottled). Default 1.5. */
  calm?: number;
  /** Ms per MiB added to both thresholds (the extra delay tolerated, as LEDBAT's target), so sub-millisecond noise (page-cache reads) does not count. Default 8: 0.5 ms on a 64 KiB read. */
  slackMs?: number;
  now?: Clock;
}

const MiB = 1024 * 1024;
/** Reads are costed as at least this many bytes: a small chunk's read is mostly fixed cost. */
const MIN_COSTED_BYTES = 64 * 1024;

/**
 * The default verify pace, after LEDBAT (RFC 6817, the "scavenger" transport for background
 * transfers): verify reads as fast as the disk allows while the store's read latency stays near
 * its baseline, and yields when it rises — the sign that something else (production I/O) is
 * queueing at the same disk. Per window of reads, the latency is the fastest read's (ms per MiB;
 * the minimum filters out stalls of the process's own event loop and the queueing of verify's own
 * concurrent reads and hashes, which delay most reads a little, never all), the baseline the lowest window
 * latency of the recent windows. Over `congested` × baseline (+ slack) the rate is halved (the
 * first time: half of what the window achieved), never below the floor; at most `calm` × baseline
 * (+ slack) it doubles, and once over what unthrottled windows achieved, the cap is lifted. In
 * between, it holds. The latency is measured on verify's own reads, so it works on any backend
 * (local disk, network file system) without knowing the device; host-wide pressure
 * (`/proc/pressure/io`) is not used because it counts verify's own stalls as well and cannot tell
 * an idle disk being read from a busy one.
 */
export class AdaptiveReadPacer implements ReadPacer {
  private readonly floor: number;
  private readonly windowSize: number;
  private readonly history: number;
  private readonly congested: number;
  private readonly calm: number;
  private readonly slackMs: number;
  private readonly now: Clock;
  private readonly budget: BudgetPacer;
  private current = Infinity;
  /** The best throughput an unthrottled window achieved (bytes a second). */
  private unthrottled = 0;
  private readonly minima: number[] = [];
  private windowMin = Infinity;
  private windowReads = 0;
  private windowBytes = 0;
  private windowStart: number;

  constructor(options: AdaptivePacerOptions) {
    if (!(options.floorBytesPerSecond > 0)) throw new RangeError('the floor must be > 0 bytes a second');
    this.floor = options.floorBytesPerSecond;
    this.windowSize = options.window ?? 64;
    this.history = options.history ?? 64;
    this.congested = options.congested ?? 2;
    this.calm = options.calm ?? 1.5;
    this.slackMs = options.slackMs ?? 8;
    this.now = options.now ?? Date.now;
    this.budget = new BudgetPacer(this.now);
    this.windowStart = this.now();
  }

  get rate(): number {
    return this.current;
  }

  /** The baseline latency (ms per MiB; Infinity before the first window). */
  get baseline(): number {
    return this.minima.length ? Math.min(...this.minima) : Infinity;
  }

  afterRead(bytes: number, ms: number): number {
    this.windowMin = Math.min(this.windowMin, (ms / Math.max(bytes, MIN_COSTED_BYTES)) * MiB);
    this.windowReads += 1;
    this.windowBytes += bytes;
    if (this.windowReads >= this.windowSize) this.closeWindow();
    return this.budget.wait(bytes, this.current);
  }

  private closeWindow(): void {
    const now = this.now();
    const latency = this.windowMin;
    const achieved = now > this.windowStart ? (this.windowBytes / (now - this.windowStart)) * 1000 : Infinity;
    const base = Math.min(this.baseline, latency);
    if (!Number.isFinite(this.current)) this.unthrottled = Math.max(this.unthrottled, Number.isFinite(achieved) ? achieved : 0);
    if (latency > this.congested * base + this.slackMs) {
      const from = Number.isFinite(this.current) ? this.current : Number.isFinite(achieved) ? achieved : this.floor * 2;
      this.current = Math.max(this.floor, from / 2);
    } else if (latency <= this.calm * base + this.slackMs && Number.isFinite(this.current)) {
      const doubled = this.current * 2;
      this.current = this.unthrottled > 0 && doubled >= this.unthrottled ? Infinity : doubled;
    }
    this.minima.push(latency);
    if (this.minima.length > this.history) this.minima.shift();
    this.windowMin = Infinity;
    this.windowReads = 0;
    this.windowBytes = 0;
    this.windowStart = now;
  }
}

/** The pacer of a verify job's `pace` (see `ScrubPace`). */
export function pacerFor(pace: ScrubPace | undefined, now: Clock = Date.now): ReadPacer {
  if (pace?.bytesPerSecond !== undefined) return new FixedReadPacer(pace.bytesPerSecond > 0 ? pace.bytesPerSecond : Infinity, now);
  if (pace?.floorBytesPerSecond && pace.floorBytesPerSecond > 0) return new AdaptiveReadPacer({ floorBytesPerSecond: pace.floorBytesPerSecond, now });
  return new FixedReadPacer(Infinity, now);
}
