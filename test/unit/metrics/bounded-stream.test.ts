import { boundedStream, EventSource } from '../../../gateway/metrics/bounded-stream';

/** A tiny bus: `publish` calls every pushed listener. */
function bus<T>() {
  const listeners = new Set<(e: T) => void>();
  const source: EventSource<T> = (push) => {
    listeners.add(push);
    return () => listeners.delete(push);
  };
  return { source, publish: (e: T) => listeners.forEach((l) => l(e)), listeners };
}

describe('boundedStream', () => {
  test('a slow subscriber keeps only the newest events and counts the dropped ones', async () => {
    const b = bus<number>();
    let drops = 0;
    const stream = boundedStream<number, { n: number; dropped: number }>([b.source], { capacity: 3, map: (n, dropped) => ({ n, dropped }), onDrop: () => (drops += 1) });
    for (let i = 1; i <= 10; i++) b.publish(i);
    const got = [await stream.next(), await stream.next(), await stream.next()].map((r) => r.value);
    expect(got.map((g) => g.n)).toEqual([8, 9, 10]);
    expect(got[0].dropped).toBe(7);
    expect(drops).toBe(7);
    await stream.return!();
    expect((await stream.next()).done).toBe(true);
  });

  test('a fast subscriber gets everything in order; the filter applies before buffering', async () => {
    const b = bus<number>();
    const stream = boundedStream<number>([b.source], { capacity: 2, filter: (n) => n % 2 === 0 });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const n of stream) {
        seen.push(n);
        if (seen.length === 50) break;
      }
    })();
    for (let i = 1; i <= 100; i++) {
      b.publish(i);
      await new Promise((r) => setImmediate(r));
    }
    await reading;
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 2));
  });

  test('closing the subscriber stops its sources and reports once', async () => {
    const a = bus<number>();
    const b = bus<number>();
    let closed = 0;
    const stream = boundedStream<number>([a.source, b.source], { capacity: 10, onClose: () => (closed += 1) });
    a.publish(1);
    b.publish(2);
    expect((await stream.next()).value).toBe(1);
    expect((await stream.next()).value).toBe(2);
    const pending = stream.next();
    await stream.return!();
    expect((await pending).done).toBe(true);
    expect(closed).toBe(1);
    expect(a.listeners.size + b.listeners.size).toBe(0);
  });

  test('piped: events go straight to a writable sink; while it is not writable they wait in the ring, drop-oldest, and follow on resume', () => {
    const b = bus<number>();
    let drops = 0;
    const stream = boundedStream<number>([b.source], { capacity: 3, filter: (n) => n !== 13, onDrop: () => (drops += 1) });
    const written: Array<[number, number]> = [];
    let open = true;
    stream.pipe({ writable: () => open, write: (n, dropped) => written.push([n, dropped]) });
    b.publish(1);
    b.publish(2);
    expect(written).toEqual([[1, 0], [2, 0]]);
    open = false;
    for (let i = 3; i <= 10; i++) b.publish(i);
    b.publish(13);
    expect(written).toHaveLength(2);
    expect(drops).toBe(5);
    expect(stream.dropped).toBe(5);
    open = true;
    stream.resume();
    expect(written.slice(2)).toEqual([[8, 5], [9, 5], [10, 5]]);
    // A new event while older ones wait goes behind them, never ahead.
    open = false;
    b.publish(11);
    open = true;
    b.publish(12);
    expect(written.slice(5)).toEqual([[11, 5], [12, 5]]);
  });

  test('piped: resume writes only while the sink stays writable, and nothing after close', async () => {
    const b = bus<number>();
    const stream = boundedStream<number>([b.source], { capacity: 10 });
    const written: number[] = [];
    let room = 0;
    stream.pipe({ writable: () => room > 0, write: (n) => (room -= 1, written.push(n)) });
    for (let i = 1; i <= 5; i++) b.publish(i);
    room = 2;
    stream.resume();
    expect(written).toEqual([1, 2]);
    await stream.return();
    room = 10;
    stream.resume();
    b.publish(6);
    expect(written).toEqual([1, 2]);
    expect(b.listeners.size).toBe(0);
  });
});
