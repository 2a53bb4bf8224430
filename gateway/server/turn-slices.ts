/**
 * Runs queued work a few items per turn of the event loop (`setImmediate`), in the order queued:
 * a burst of arrivals is taken in slices, and between two slices the event loop polls again, so
 * other clients (a `/healthz` check, a query) are answered during the burst instead of after it.
 */
export class TurnSlices {
  private readonly queue: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly perTurn: number) {}

  /** Items waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `work` in a coming turn: resolves or rejects with it. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        try {
          work().then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.slice);
      }
    });
  }

  private readonly slice = (): void => {
    for (const item of this.queue.splice(0, this.perTurn)) item();
    if (this.queue.length) setImmediate(this.slice);
    else this.scheduled = false;
  };
}
