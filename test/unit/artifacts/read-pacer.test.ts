import { AdaptiveReadPacer, FixedReadPacer, pacerFor } from '../../../gateway/artifacts/read-pacer';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/**
 * The verify job's pacing, driven by a fake clock and made-up read latencies: no timing is
 * measured, every number follows from the samples fed in.
 */
describe('read pacers of verify jobs', () => {
  /** A pacer on a fake clock, and reads of 64 KiB chunks taking `ms` each, `gapMs` of clock apart plus the wait the pacer asks for. */
  const rig = (floor = 16 * MiB) => {
    let now = 0;
    const pacer = new AdaptiveReadPacer({ floorBytesPerSecond: floor, window: 16, slackMs: 2, now: () => now });
    const reads = (count: number, ms: number, gapMs = 1) => {
      let wait = 0;
      for (let i = 0; i < count; i += 1) {
        now += gapMs;
        wait = pacer.afterRead(CHUNK, ms);
        now += wait;
      }
      return wait;
    };
    return { pacer, reads };
  };

  test('adaptive: unthrottled while the read latency stays at its baseline', () => {
    const { pacer, reads } = rig();
    expect(reads(16 * 20, 0.5)).toBe(0);
    expect(pacer.rate).toBe(Infinity);
    expect(pacer.baseline).toBeCloseTo(8, 5); // 0.5 ms per 64 KiB = 8 ms per MiB
  });

  test('adaptive: a rise in latency (other I/O at the disk) halves the rate from what the window achieved, down to the floor, and paces reads', () => {
    const { pacer, reads } = rig(4 * MiB);
    reads(16 * 4, 0.5); // 64 KiB a ms: 62.5 MiB/s achieved, unthrottled
    expect(pacer.rate).toBe(Infinity);
    reads(16, 5); // 10× the baseline
    expect(pacer.rate).toBeCloseTo((CHUNK * 1000) / 2, 0); // half of 64 KiB/ms
    reads(16, 5);
    expect(pacer.rate).toBeCloseTo((CHUNK * 1000) / 4, 0);
    reads(16 * 10, 5);
    expect(pacer.rate).toBe(4 * MiB);
    // At the floor, a 64 KiB read right after the last wait is followed by one that keeps to 4 MiB/s.
    expect(pacer.afterRead(CHUNK, 5)).toBeCloseTo((CHUNK / (4 * MiB)) * 1000, 5);
  });

  test('adaptive: holds between calm and congested, recovers by doubling once latency is back at its baseline, and lifts the cap past what unthrottled reads achieved', () => {
    const { pacer, reads } = rig();
    reads(16 * 4, 0.5);
    reads(16 * 3, 5);
    const throttled = pacer.rate;
    expect(throttled).toBeLessThan(Infinity);
    reads(16, 0.85); // 13.6 ms/MiB ≤ 1.5 × 8 + 2: calm, doubles
    expect(pacer.rate).toBeCloseTo(throttled * 2, 0);
    reads(16, 1); // 16 ms/MiB: between calm (14) and congested (18): holds
    expect(pacer.rate).toBeCloseTo(throttled * 2, 0);
    for (let i = 0; i < 10 && pacer.rate !== Infinity; i += 1) reads(16, 0.5);
    expect(pacer.rate).toBe(Infinity);
  });

  test('adaptive: tiny latencies (page-cache reads) do not throttle on noise under the slack', () => {
    const { pacer, reads } = rig();
    reads(16 * 4, 0.01); // 0.16 ms/MiB
    reads(16 * 4, 0.1); // 1.6 ms/MiB: 10× the baseline, but under 2 × 0.16 + 2
    expect(pacer.rate).toBe(Infinity);
  });

  test('adaptive: the baseline ages out, so a lasting change of the disk is learnt', () => {
    let now = 0;
    const pacer = new AdaptiveReadPacer({ floorBytesPerSecond: MiB, history: 4, window: 16, slackMs: 2, now: () => now });
    const feed = (windows: number, ms: number) => {
      for (let i = 0; i < windows * 16; i += 1) {
        now += 1;
        pacer.afterRead(CHUNK, ms);
      }
    };
    feed(4, 0.5);
    feed(4, 5);
    expect(pacer.baseline).toBeCloseTo(80, 5);
    expect(pacer.rate).toBeLessThan(Infinity);
    feed(20, 5); // latency steady at the new baseline: calm again
    expect(pacer.rate).toBe(Infinity);
  });

  test('adaptive, default tuning: jitter that delays most reads of a window (verify\'s own queueing) does not throttle; a delay of every read does', () => {
    let now = 0;
    const pacer = new AdaptiveReadPacer({ floorBytesPerSecond: MiB, now: () => now });
    const window = (slowMs: number, fastMs: number) => {
      for (let i = 0; i < 64; i += 1) {
        now += 1;
        now += pacer.afterRead(CHUNK, i === 40 ? fastMs : slowMs);
      }
    };
    for (let i = 0; i < 8; i += 1) window(0.5, 0.05); // one read in 64 at the page cache's speed
    for (let i = 0; i < 8; i += 1) window(3, 0.05);
    expect(pacer.rate).toBe(Infinity);
    window(3, 3); // other I/O queueing at the disk: every read 3 ms
    expect(pacer.rate).toBeLessThan(Infinity);
  });

  test('a fixed cap paces reads to it, shared by concurrent readers; 0 or none is unthrottled', () => {
    let now = 0;
    const fixed = new FixedReadPacer(MiB, () => now);
    expect(fixed.afterRead(CHUNK)).toBeCloseTo(62.5, 5);
    expect(fixed.afterRead(CHUNK)).toBeCloseTo(125, 5); // a second reader at the same moment waits its turn
    now += 1000;
    expect(fixed.afterRead(CHUNK)).toBeCloseTo(62.5, 5);
    expect(pacerFor({ bytesPerSecond: 0, floorBytesPerSecond: MiB }).rate).toBe(Infinity);
    expect(pacerFor(undefined).rate).toBe(Infinity);
    expect(pacerFor({ bytesPerSecond: MiB }).rate).toBe(MiB);
    expect(pacerFor({ floorBytesPerSecond: MiB })).toBeInstanceOf(AdaptiveReadPacer);
    expect(() => new AdaptiveReadPacer({ floorBytesPerSecond: 0 })).toThrow(/floor/);
  });
});
