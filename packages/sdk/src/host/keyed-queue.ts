/** Runs the calls given for one key one after another (calls for different keys run side by side). */
export class KeyedQueue {
  private readonly queues = new Map<string, Promise<unknown>>();

  /** Runs `work` once every earlier call for `key` has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(work, work);
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }
}
