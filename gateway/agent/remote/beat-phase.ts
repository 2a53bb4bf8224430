/** How many agents of one gateway beat together in one burst, at most. */
export const BEAT_BURST = 500;

/** How many bursts an interval holds, evenly spread, before they are shared (`BEAT_BURST × BEAT_BURSTS` agents). */
export const BEAT_BURSTS = 10;

/**
 * The phase (ms into each heartbeat interval, `GatewayWelcome.beatPhaseMs`) of the `index`-th
 * agent this gateway welcomed: agents beat together by `BEAT_BURST`, each burst a tenth of an
 * interval after the previous one. A gateway answering a burst takes its beats in a few wake-ups
 * of its event loop instead of one per beat (measured in `bench/agents`, swarm); a burst stays
 * small enough that its last beat is answered long before the lease of the previous one ends.
 */
export function beatPhase(index: number, heartbeatMs: number): number {
  const burst = Math.floor(index / BEAT_BURST) % BEAT_BURSTS;
  return Math.floor((burst * heartbeatMs) / BEAT_BURSTS);
}
