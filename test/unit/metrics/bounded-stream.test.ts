import { createPubSub } from '@graphql-yoga/subscription';
import { boundedStream } from '../../../gateway/metrics/bounded-stream';

describe('boundedStream', () => {
  test('a slow subscriber keeps only the newest events and counts the dropped ones', async () => {
    const bus = createPubSub<{ T: [number] }>();
    let drops = 0;
    const stream = boundedStream<number, { n: number; dropped: number }>([bus.subscribe('T')], { capacity: 3, map: (n, dropped) => ({ n, dropped }), onDrop: () => (drops += 1) });
    await new Promise((r) => setImmediate(r));
    for (let i = 1; i <= 10; i++) bus.publish('T', i);
    await new Promise((r) => setImmediate(r));
    const got = [await stream.next(), await stream.next(), await stream.next()].map((r) => r.value);
    expect(got.map((g) => g.n)).toEqual([8, 9, 10]);
    expect(got[0].dropped).toBe(7);
    expect(drops).toBe(7);
    await stream.return!();
    expect((await stream.next()).done).toBe(true);
  });

  test('a fast subscriber gets everything in order; the filter applies before buffering', async () => {
    const bus = createPubSub<{ T: [number] }>();
    const stream = boundedStream<number>([bus.subscribe('T')], { capacity: 2, filter: (n) => n % 2 === 0 });
    await new Promise((r) => setImmediate(r));
    const seen: number[] = [];
    const reading = (async () => {
      for await (const n of stream) {
        seen.push(n);
        if (seen.length === 50) break;
      }
    })();
    for (let i = 1; i <= 100; i++) {
      bus.publish('T', i);
      await new Promise((r) => setImmediate(r));
    }
    await reading;
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 2));
  });

  test('closing the subscriber closes its sources and reports once', async () => {
    const bus = createPubSub<{ A: [number]; B: [number] }>();
    let closed = 0;
    const stream = boundedStream<number>([bus.subscribe('A'), bus.subscribe('B')], { capacity: 10, onClose: () => (closed += 1) });
    await new Promise((r) => setImmediate(r));
    bus.publish('A', 1);
    bus.publish('B', 2);
    expect((await stream.next()).value).toBe(1);
    expect((await stream.next()).value).toBe(2);
    const pending = stream.next();
    await stream.return!();
    expect((await pending).done).toBe(true);
    expect(closed).toBe(1);
  });
});
