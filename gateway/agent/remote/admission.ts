/**
 * At most `limit` tasks at once, the others waiting their turn in arrival order: the gateway
 * admits reconnecting agents (handshake, opening calls, facts) a few at a time, so that a
 * thousand agents dialling back after a restart queue up instead of all timing out together.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Runs `task` once a place is free; resolves or rejects as it does. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  /** Tasks waiting for a place. */
  get queued(): number {
    return this.waiting.length;
  }
}
