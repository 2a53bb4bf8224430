import { HostState } from '../persistence/entities';

/** How heartbeats are judged. */
export interface DetectorSettings {
  /** How often connected agents beat (ms). */
  heartbeatMs: number;
  /** A host silent longer than this after its last beat is DOWN (ms). */
  downAfterMs: number;
}

/** The settings when none are given (`RSP_HEARTBEAT_MS`, `RSP_HOST_DOWN_AFTER_MS` defaults). */
export const DEFAULT_DETECTOR_SETTINGS: DetectorSettings = { heartbeatMs: 1000, downAfterMs: 3000 };

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

/**
 * How often the hosts of an agent a gateway hears are written heard (`lastHeartbeatAt`) while
 * nothing changes: every 10 beats. The gateway holding the agent judges it from memory; the
 * other replicas read the database, so they allow this much more silence (`staleCutoff`).
 */
export function heardWriteEveryMs(settings: Pick<DetectorSettings, 'heartbeatMs'>): number {
  return 10 * settings.heartbeatMs;
}

/**
 * The written `lastHeartbeatAt` before which a host is silent for a gateway that did not hear its
 * agent itself: the threshold, the write interval and one beat more (a beat due a write is
 * written with a batch that gathers for up to a beat).
 */
export function staleCutoff(now: number, settings: DetectorSettings): Date {
  return new Date(now - settings.downAfterMs - heardWriteEveryMs(settings) - settings.heartbeatMs);
}

/**
 * When the grace period after a gateway start ends: `heartbeatMs + downAfterMs` after it, no host
 * is judged DOWN (its agents need a beat to reconnect and be heard; a restart must not fail every
 * host over).
 */
export function graceEndsAt(startedAt: number, settings: DetectorSettings): number {
  return startedAt + settings.heartbeatMs + settings.downAfterMs;
}
