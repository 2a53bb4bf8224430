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

/**
 * Runs `work` under V8's sampling heap profiler, counting every object allocated meanwhile (those
 * already collected too), and writes the profile to `path` (a `.heapprofile`: Chrome DevTools'
 * Memory tab). Returns the work's result and the bytes the samples stand for in all.
 */
export async function withHeapProfile<T>(path: string, work: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const session = new Session();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (e, result) => (e ? reject(e) : resolve(result))));
  session.connect();
  try {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const result = await work();
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
    await writeFile(path, JSON.stringify(profile));
    process.stderr.write(`  heap profile: ${path}\n`);
    return { result, bytes: selfBytes(profile.head) };
  } finally {
    session.disconnect();
  }
}

/** A node of a sampling heap profile: the bytes allocated in one function, with its callees. */
interface HeapNode {
  selfSize: number;
  children: HeapNode[];
}

function selfBytes(node: HeapNode): number {
  return node.children.reduce((sum, child) => sum + selfBytes(child), node.selfSize);
}
