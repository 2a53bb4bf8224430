import { TimeoutError } from './errors';
import type { CallOptions } from './contract';

/**
 * Runs `work` with a signal that aborts when the caller's signal aborts or after the timeout
 * (`options.timeoutMs`, else `defaultTimeoutMs`). A timeout rejects with TIMEOUT naming `what`.
 */
export async function withDeadline<T>(what: string, options: CallOptions | undefined, defaultTimeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeoutMs = options?.timeoutMs ?? defaultTimeoutMs;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options?.signal?.reason);
  if (options?.signal?.aborted) throw options.signal.reason ?? new Error(`${what} was cancelled`);
  options?.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TimeoutError(what, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const cancelled = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
  try {
    return await Promise.race([work(controller.signal), timedOut, cancelled]);
  } finally {
    clearTimeout(timer);
    options?.signal?.removeEventListener('abort', onAbort);
  }
}
