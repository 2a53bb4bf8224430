import { ConflictError } from '../errors';
import { EnvironmentStatus } from '../persistence/entities';

const { CREATING, CREATED, STARTING, RUNNING, STOPPING, STOPPED, REBUILDING, DESTROYING, DESTROYED, FAILED, MIGRATING, RESTORING, FAILING_OVER, SNAPSHOTTING } = EnvironmentStatus;

/**
 * Every step that changes an environment, the statuses it may start from and the transient status
 * held while it runs. Nothing starts from a transient status (except failover, which takes over
 * environments of a DOWN host whose start or stop can no longer end): a step and any other that
 * races it cannot both win.
 */
export const TRANSITIONS = {
  start: { from: [CREATED, STOPPED], during: STARTING },
  stop: { from: [RUNNING], during: STOPPING },
  restart: { from: [RUNNING], during: STOPPING },
  rebuild: { from: [CREATED, STOPPED, RUNNING], during: REBUILDING },
  destroy: { from: [CREATED, STOPPED, RUNNING, FAILED], during: DESTROYING },
  /** Moving to another host, keeping the identity and data. */
  migrate: { from: [CREATED, STOPPED, RUNNING], during: MIGRATING },
  /** Restoring a replica into the same environment (same identity) on a host. */
  restore: { from: [CREATED, STOPPED, RUNNING, FAILED], during: RESTORING },
  /** Restarting an environment of a DOWN host elsewhere from its newest replica. */
  failover: { from: [CREATED, STARTING, RUNNING, STOPPING, STOPPED], during: FAILING_OVER },
  /** Taking, rolling back to or deleting a snapshot: start, stop, destroy… wait for it (CONFLICT meanwhile). */
  snapshot: { from: [CREATED, STOPPED, RUNNING], during: SNAPSHOTTING },
} as const satisfies Record<string, { from: readonly EnvironmentStatus[]; during: EnvironmentStatus }>;

/** A step that moves an environment through a transient status. */
export type Transition = keyof typeof TRANSITIONS;

/** The steps a member asks for by name on an environment (`startEnvironment`…). */
export type LifecycleAction = Extract<Transition, 'start' | 'stop' | 'restart' | 'rebuild' | 'destroy'>;

/** The statuses a new environment is recorded in: made from an image, or restored from a replica. */
export type NewEnvironmentStatus = typeof CREATING | typeof RESTORING;

/**
 * The statuses each transient one may end in. A step that fails puts the environment back where
 * it started (those statuses are listed) or leaves it FAILED.
 */
export const ENDINGS: Readonly<Record<EnvironmentStatus, readonly EnvironmentStatus[]>> = {
  [CREATING]: [CREATED, STOPPED, FAILED],
  [STARTING]: [RUNNING, CREATED, STOPPED, FAILED],
  [STOPPING]: [STOPPED, RUNNING, FAILED],
  [REBUILDING]: [RUNNING, STOPPED, FAILED],
  [DESTROYING]: [DESTROYED, FAILED],
  [MIGRATING]: [CREATED, STOPPED, RUNNING, FAILED],
  [RESTORING]: [CREATED, STOPPED, RUNNING, FAILED],
  [FAILING_OVER]: [CREATED, STARTING, RUNNING, STOPPING, STOPPED, FAILED],
  [SNAPSHOTTING]: [CREATED, STOPPED, RUNNING, FAILED],
  [CREATED]: [],
  [RUNNING]: [],
  [STOPPED]: [],
  [DESTROYED]: [],
  [FAILED]: [],
};

/** Statuses held while a step runs; a gateway stopped during one leaves them behind for `settledStatus`. */
export const TRANSIENT_STATUSES: ReadonlySet<EnvironmentStatus> = new Set((Object.keys(ENDINGS) as EnvironmentStatus[]).filter((s) => ENDINGS[s].length > 0));

/** The transient status `transition` moves an environment in `from` into; CONFLICT when it may not start from there. */
export function transientStatusFor(transition: Transition, from: EnvironmentStatus, name: string): EnvironmentStatus {
  const rule = TRANSITIONS[transition];
  if (!(rule.from as readonly EnvironmentStatus[]).includes(from)) {
    throw new ConflictError(`Cannot ${transition} environment ${name}: it is ${from} (allowed from ${rule.from.join(', ')})`, { status: from, action: transition });
  }
  return rule.during;
}

/** Checks that a step holding `current` may end in `to`; CONFLICT otherwise (a bug, or another writer took the environment). */
export function checkEnding(current: EnvironmentStatus, to: EnvironmentStatus, name: string): void {
  if (!ENDINGS[current].includes(to)) {
    throw new ConflictError(`Environment ${name} is ${current}: a step cannot end it ${to}${TRANSIENT_STATUSES.has(current) ? ` (allowed: ${ENDINGS[current].join(', ')})` : ' (no step holds it)'}`, { status: current, to });
  }
}

/** What differs between the recorded status and the engine's state, or null. */
export function driftOf(status: EnvironmentStatus, engine: string | undefined): string | null {
  if (status === FAILED || status === CREATING || status === RESTORING) return null;
  if (!engine) return 'missing on the engine';
  if (status === RUNNING && engine !== 'running') return `recorded RUNNING, the engine reports ${engine}`;
  if ((status === STOPPED || status === CREATED) && engine === 'running') return `recorded ${status}, the engine reports running`;
  return null;
}

/**
 * The status a transient one settles to after a gateway restart, from the engine's state on the
 * host the record names: running → RUNNING; made but not running → STOPPED (a destroy that did
 * not finish: FAILED); missing → FAILED. Other statuses stay.
 */
export function settledStatus(status: EnvironmentStatus, engine: string | undefined): EnvironmentStatus {
  if (!TRANSIENT_STATUSES.has(status)) return status;
  if (engine === 'running') return RUNNING;
  if (engine === 'created' || engine === 'stopped') return status === DESTROYING ? FAILED : STOPPED;
  return FAILED;
}
