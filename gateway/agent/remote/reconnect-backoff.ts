/** An agent's first and longest wait between reconnections (ms). */
export interface ReconnectBackoff {
  baseMs: number;
  maxMs: number;
}

/**
 * The default first and longest wait between an `rsp agent`'s reconnections. The longest is also
 * what a restarted gateway allows its agents to dial again before it judges their hosts
 * (`defaultRestartGraceMs`).
 */
export const DEFAULT_BACKOFF: ReconnectBackoff = { baseMs: 500, maxMs: 30_000 };

/** How long an agent waits before its `attempt`-th reconnection (0 first): exponential backoff from `baseMs` up to `maxMs`, with jitter over the upper half. */
export function reconnectDelay(attempt: number, backoff: ReconnectBackoff = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
