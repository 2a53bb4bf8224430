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
});
