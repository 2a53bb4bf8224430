import { withDeadline } from '../../../drivers/call';
import { Revert } from '../../../drivers/revert';

describe('Revert', () => {
  test('on failure the undos run newest first, and their own errors are collected', async () => {
    const order: string[] = [];
    const revert = new Revert();
    revert.add(() => order.push('volume'));
    revert.add(() => {
      throw new Error('undo failed');
    });
    revert.add(async () => order.push('container'));
    const errors = await revert.run();
    expect(order).toEqual(['container', 'volume']);
    expect(errors).toEqual([new Error('undo failed')]);
    expect(await revert.run()).toEqual([]);
  });

  test('success drops every undo', async () => {
    const undo = jest.fn();
    const revert = new Revert();
    revert.add(undo);
    revert.success();
    await revert.run();
    expect(undo).not.toHaveBeenCalled();
  });
});

describe('withDeadline', () => {
  test('returns what the work returns', async () => {
    await expect(withDeadline('quick', undefined, 1000, async () => 42)).resolves.toBe(42);
  });

  test('a timeout rejects with TIMEOUT naming the work, and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    await expect(withDeadline('slow thing', { timeoutMs: 20 }, 1000, (signal) => {
      seen = signal;
      return new Promise(() => undefined);
    })).rejects.toMatchObject({ category: 'TIMEOUT', message: 'slow thing did not finish within 20 ms' });
    expect(seen?.aborted).toBe(true);
  });

  test('the default timeout applies when the caller gives none', async () => {
    await expect(withDeadline('slow', {}, 10, () => new Promise(() => undefined))).rejects.toMatchObject({ category: 'TIMEOUT' });
  });

  test("the caller's signal cancels the work", async () => {
    const controller = new AbortController();
    const running = withDeadline('cancellable', { signal: controller.signal }, 1000, () => new Promise(() => undefined));
    controller.abort(new Error('user cancelled'));
    await expect(running).rejects.toThrow('user cancelled');
  });

  test('an already aborted signal stops the work before it starts', async () => {
    const work = jest.fn(async () => 1);
    await expect(withDeadline('never', { signal: AbortSignal.abort(new Error('too late')) }, 1000, work)).rejects.toThrow('too late');
    expect(work).not.toHaveBeenCalled();
  });

  test('an error of the work passes through', async () => {
    await expect(withDeadline('failing', undefined, 1000, async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
  });
});
