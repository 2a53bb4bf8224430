import { PassThrough } from 'node:stream';
import type { InteractiveProcess } from '../../../drivers/contract';
import { ConsoleSessions } from '../../../drivers/host/console-sessions';

/** A console process whose exit the test settles. */
function consoleProcess(): { p: InteractiveProcess; end: () => void } {
  let end: () => void = () => undefined;
  const exit = new Promise<number>((resolve) => (end = () => resolve(0)));
  return { p: { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), resize: async () => undefined, exit, kill: () => end() }, end: () => end() };
}

/**
 * The drivers' console guard: one session per environment; the next is CONFLICT until the first
 * one's exit settles; a failed attach leaves the console free; other environments are apart.
 */
describe('ConsoleSessions', () => {
  test('one session at a time per key, freed by the exit', async () => {
    const sessions = new ConsoleSessions();
    const first = consoleProcess();
    expect(await sessions.attach('env-1', 'the console', async () => first.p)).toBe(first.p);
    let attached = 0;
    await expect(sessions.attach('env-1', 'the console', async () => (attached++, consoleProcess().p))).rejects.toMatchObject({ category: 'CONFLICT', message: expect.stringContaining('already open') as string });
    expect(attached).toBe(0);
    const other = consoleProcess();
    expect(await sessions.attach('env-2', 'the console', async () => other.p)).toBe(other.p);
    first.p.kill();
    await first.p.exit;
    const again = consoleProcess();
    expect(await sessions.attach('env-1', 'the console', async () => again.p)).toBe(again.p);
  });

  test('a failed attach frees the console at once', async () => {
    const sessions = new ConsoleSessions();
    await expect(sessions.attach('env-1', 'the console', async () => Promise.reject(new Error('no answer')))).rejects.toThrow('no answer');
    const next = consoleProcess();
    expect(await sessions.attach('env-1', 'the console', async () => next.p)).toBe(next.p);
  });
});
