/**
 * Runs queued work a few items per turn of the event loop (`setImmediate`), in the order queued:
 * a burst of arrivals is taken in slices, and between two slices the event loop polls again, so
 * other clients (a `/healthz` check, a query) are answered during the burst instead of after it.
 */
export class TurnSlices {
  private readonly queue: Array<() => void> = [];
  private scheduled = false;
  /** Items `runSoon` ran at once in this turn. */
  private ranThisTurn = 0;

  constructor(private readonly perTurn: number) {}

  /** Items waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `work` in a coming turn: resolves or rejects with it. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.defer(() => {
        try {
          work().then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Runs `work` (which must not throw) in a coming turn, without a promise of its own. */
  defer(work: () => void): void {
    this.queue.push(work);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.slice);
    }
  }

  /**
   * Runs `work` (which must not throw) at once when nothing waits and fewer than `perTurn` items ran
   * at once in this turn — light traffic is not delayed — else in a coming turn, in order.
   */
  runSoon(work: () => void): void {
    if (this.queue.length || this.ranThisTurn >= this.perTurn) return this.defer(work);
    if (this.ranThisTurn++ === 0) setImmediate(() => (this.ranThisTurn = 0));
    work();
  }

  private readonly slice = (): void => {
    for (const item of this.queue.splice(0, this.perTurn)) item();
    if (this.queue.length) setImmediate(this.slice);
    else this.scheduled = false;
  };
}
