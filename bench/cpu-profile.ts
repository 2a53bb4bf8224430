import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';

/**
 * Runs `work` under the V8 CPU profiler of this process (the gateway's, in the benches that start
 * it in-process) and writes the profile to `path` (open it in Chrome DevTools or speedscope).
 * Profiling costs CPU too: a bench measures its figures in a window of their own, not this one.
 */
export async function withCpuProfile<T>(path: string, work: () => Promise<T>): Promise<T> {
  const session = new Session();
  const post = (method: string) => new Promise<unknown>((resolve, reject) => session.post(method, (e, result) => (e ? reject(e) : resolve(result))));
  session.connect();
  try {
    await post('Profiler.enable');
    await post('Profiler.start');
    const result = await work();
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    await writeFile(path, JSON.stringify(profile));
    process.stderr.write(`  CPU profile: ${path}\n`);
    return result;
  } finally {
    session.disconnect();
  }
}
