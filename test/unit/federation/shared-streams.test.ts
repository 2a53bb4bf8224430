import type { ExecutionResult } from 'graphql';
import { Repeater } from 'graphql-yoga';
import { sharedStreams } from '../../../gateway/federation/shared-subscriptions';

/** A source of results the test pushes into, counting how often it was opened and whether it was closed. */
function source() {
  const state = { opened: 0, closed: 0, push: undefined as undefined | ((r: ExecutionResult) => void), stop: undefined as undefined | ((e?: unknown) => void) };
  const open = () => {
    state.opened += 1;
    return new Repeater<ExecutionResult>(async (push, stop) => {
      // The first stream opened is the one the test pushes into.
      state.push ??= (r) => void push(r);
      state.stop ??= (e) => stop(e);
      await stop;
      state.closed += 1;
    });
  };
  return { state, open };
}

describe('sharedStreams', () => {
  test('subscribers of one key read one stream; it closes with the last of them', async () => {
    const { state, open } = source();
    const subscribe = sharedStreams<string>(open, (key) => key);
    const a = (await subscribe('k')) as AsyncIterableIterator<ExecutionResult>;
    const b = (await subscribe('k')) as AsyncIterableIterator<ExecutionResult>;
    const other = (await subscribe('other')) as AsyncIterableIterator<ExecutionResult>;
    expect(state.opened).toBe(2);
    const nextA = a.next();
    const nextB = b.next();
    while (!state.push) await new Promise((r) => setImmediate(r));
    state.push({ data: { n: 1 } });
    expect(await nextA).toEqual({ value: { data: { n: 1 } }, done: false });
    expect(await nextB).toEqual({ value: { data: { n: 1 } }, done: false });
    await a.return!();
    expect(state.closed).toBe(0);
    await b.return!();
    await other.return!();
    while (state.closed < 2) await new Promise((r) => setImmediate(r));
    // A new subscriber after the last left opens the stream again.
    await ((await subscribe('k')) as AsyncIterableIterator<ExecutionResult>).return!();
    expect(state.opened).toBe(3);
  });

  test('a refusal reaches every subscriber; a failure of the stream ends each with it', async () => {
    const refused = sharedStreams<string>(() => ({ errors: [{ message: 'no' }] }), (key) => key);
    expect(await refused('k')).toEqual({ errors: [{ message: 'no' }] });
    const { state, open } = source();
    const subscribe = sharedStreams<string>(open, (key) => key);
    const a = (await subscribe('k')) as AsyncIterableIterator<ExecutionResult>;
    const next = a.next();
    while (!state.stop) await new Promise((r) => setImmediate(r));
    state.stop(new Error('site gone'));
    await expect(next).rejects.toThrow('site gone');
  });
});
