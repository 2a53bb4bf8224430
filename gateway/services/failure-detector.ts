import { HostState } from '../persistence/entities';

/** How heartbeats are judged. */
export interface DetectorSettings {
  /** How often connected agents beat (ms). */
  heartbeatMs: number;
  /** A host silent longer than this after its last beat is DOWN (ms). */
  downAfterMs: number;
}

/** A host as the detector sees it. */
export interface WatchedHost {
  state: HostState;
  lastHeartbeatAt: Date | null;
}

/**
 * The failure detector's rule: an UP host that has beaten at least once and has been silent for
 * more than `downAfterMs` is DOWN. A host that never beat (no agent ever connected for it) is
 * not judged; MAINTENANCE, UNKNOWN and DOWN hosts are not either.
 */
export function isSilent(host: WatchedHost, now: number, settings: Pick<DetectorSettings, 'downAfterMs'>): boolean {
  if (host.state !== HostState.UP || !host.lastHeartbeatAt) return false;
  return now - host.lastHeartbeatAt.getTime() > settings.downAfterMs;
}

/** The last heartbeat time before which an UP host counts as silent at `now`. */
export function silenceCutoff(now: number, settings: Pick<DetectorSettings, 'downAfterMs'>): Date {
  return new Date(now - settings.downAfterMs);
}

/** Whole beats a host may miss before it is marked DOWN (for messages). */
export function missedBeatsAllowed(settings: DetectorSettings): number {
  return Math.floor(settings.downAfterMs / settings.heartbeatMs);
}
