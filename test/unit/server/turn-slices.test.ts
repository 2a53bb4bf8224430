import { TurnSlices } from '../../../gateway/server/turn-slices';

describe('work taken in slices per turn of the event loop', () => {
  test('in the order queued, so many a turn, with other callbacks run between the slices', async () => {
    const slices = new TurnSlices(2);
    const log: string[] = [];
    const done = Array.from({ length: 6 }, (_, i) => slices.run(async () => void log.push(`w${i}`)));
    expect(slices.waiting).toBe(6);
    // Queued after the burst: without the slices it would run after all six.
    setImmediate(() => log.push('other'));
    await Promise.all(done);
    expect(log).toEqual(['w0', 'w1', 'other', 'w2', 'w3', 'w4', 'w5']);
    expect(slices.waiting).toBe(0);
  });

  test("each caller gets its work's result or error, a throw before the first await too; the next slices still run", async () => {
    const slices = new TurnSlices(1);
    const results = await Promise.allSettled([
      slices.run(async () => 'a'),
      slices.run(() => {
        throw new Error('at once');
      }),
      slices.run(async () => Promise.reject(new Error('later'))),
      slices.run(async () => 'd'),
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 'a' },
      { status: 'rejected', reason: new Error('at once') },
      { status: 'rejected', reason: new Error('later') },
      { status: 'fulfilled', value: 'd' },
    ]);
  });
});
