/** A caller waiting for its part of a batch. */
interface Waiter<K, R> {
  key: K;
  resolve(result: R): void;
  reject(e: unknown): void;
}

/**
 * One statement for many callers: the calls made in the same turn of the event loop, or while the
 * previous statement of this kind runs, go together into the next one. `run` gets every key of a
 * batch (duplicates included) and answers with what each caller gets — called once per caller, so
 * that callers never share (and mutate) the same entities. A thousand agents reconnecting at once
 * cost a few dozen statements of a kind, not a thousand; a lone caller waits one turn.
 */
export class BatchedStatement<K, R> {
  private pending: Array<Waiter<K, R>> = [];
  private running = false;

  constructor(private readonly run: (keys: K[]) => Promise<(key: K) => R>) {}

  /** The result for `key`, from the next batch. */
  load(key: K): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.running) return;
      this.running = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      try {
        const answer = await this.run(batch.map((w) => w.key));
        for (const w of batch) w.resolve(answer(w.key));
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.running = false;
  }
}
