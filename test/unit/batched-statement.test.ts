import { BatchedStatement } from '../../gateway/persistence/batched-statement';

describe('BatchedStatement: one statement for the callers of a turn, or of while one runs', () => {
  test('calls of one turn go into one run; calls made while it runs go into the next; each caller gets its own answer', async () => {
    const runs: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batched = new BatchedStatement<string, { key: string }>(async (keys) => {
      runs.push(keys);
      if (runs.length === 1) await gate;
      return (key) => ({ key });
    });
    const first = [batched.load('a'), batched.load('b'), batched.load('a')];
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([['a', 'b', 'a']]);
    const later = [batched.load('c'), batched.load('d')];
    release();
    const answers = await Promise.all(first);
    expect(answers.map((a) => a.key)).toEqual(['a', 'b', 'a']);
    expect(answers[0]).not.toBe(answers[2]);
    expect((await Promise.all(later)).map((a) => a.key)).toEqual(['c', 'd']);
    expect(runs).toEqual([['a', 'b', 'a'], ['c', 'd']]);
  });

  test('a failed run rejects its callers only; the next batch runs', async () => {
    let fail = true;
    const batched = new BatchedStatement<number, number>(async () => {
      if (fail) throw new Error('database down');
      return (key) => key * 2;
    });
    await expect(batched.load(1)).rejects.toThrow('database down');
    fail = false;
    await expect(batched.load(2)).resolves.toBe(4);
  });
});
