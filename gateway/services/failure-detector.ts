import { DEFAULT_BACKOFF } from '../agent/remote/reconnect-backoff';
import { HostState } from '../persistence/entities';

/** How heartbeats are judged. */
export interface DetectorSettings {
  /** How often connected agents beat (ms). */
  heartbeatMs: number;
  /** A host silent longer than this after its last beat is DOWN (ms). */
  downAfterMs: number;
  /**
   * How long after a gateway's start the hosts last heard before it are not judged (ms;
   * `RSP_HOST_RESTART_GRACE_MS`); absent: `defaultRestartGraceMs`.
   */
  restartGraceMs?: number;
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
 * What the restart grace allows beyond an agent's longest wait between two dials: the dial itself
 * (a TCP connect and a TLS handshake to a gateway that is still starting), the handshake and the
 * agent's first beats, on a loaded machine.
 */
export const RESTART_GRACE_MARGIN_MS = 10_000;

/**
 * The restart grace when none is configured: `downAfterMs`, the longest wait of an `rsp agent`
 * between two dials (`DEFAULT_BACKOFF.maxMs`: its backoff has grown to it when the gateway was away
 * for long) and `RESTART_GRACE_MARGIN_MS` with a beat: 44 s with the default settings.
 */
export function defaultRestartGraceMs(settings: Pick<DetectorSettings, 'heartbeatMs' | 'downAfterMs'>): number {
  return settings.downAfterMs + DEFAULT_BACKOFF.maxMs + settings.heartbeatMs + RESTART_GRACE_MARGIN_MS;
}

/** The restart grace of `settings` (ms): the configured one, else `defaultRestartGraceMs`. */
export function restartGraceMs(settings: DetectorSettings): number {
  return settings.restartGraceMs ?? defaultRestartGraceMs(settings);
}

/**
 * The restart grace (as Nomad's `failover_heartbeat_ttl` after a leader change): a host whose
 * last heartbeat — written, or heard by this gateway — is older than this gateway's start
 * (`startedAt`) is not judged until `restartGraceMs` after it. While this gateway was away its
 * agents' reconnection backoff grew (0.5 s doubling up to 30 s), so their next dial may come long
 * after the gateway is back; judging their hosts by the silence its own absence made would fail
 * every host over for a restart. A host heard since the start is judged at once, as always.
 * `started` is this gateway process's: another replica that kept running judges as usual.
 *
 * It keeps the fencing invariant — the gateway fails a host's environments over only after its
 * agent self-fenced them: the agent fences shortly before its lease ends (`leaseUntil`: the
 * beat's `sentAt + downAfterMs − margin`, renewed only by an answered beat), while the gateway marks
 * a host DOWN no sooner than `downAfterMs` after it received the host's last beat; the grace only
 * ever puts the mark later, never earlier.
 *
 * Returns the earliest last heartbeat judged at `now`: `startedAt` during the grace, else none
 * (the epoch).
 */
export function judgedSince(now: number, startedAt: number, settings: DetectorSettings): Date {
  return new Date(now < startedAt + restartGraceMs(settings) ? startedAt : 0);
}
