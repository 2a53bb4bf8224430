import { checkEnding, driftOf, ENDINGS, settledStatus, Transition, TRANSIENT_STATUSES, TRANSITIONS, transientStatusFor } from '../../../gateway/environments';
import { EnvironmentStatus } from '../../../gateway/persistence/entities';

const ACTIONS: Transition[] = ['start', 'stop', 'restart', 'rebuild', 'destroy', 'migrate', 'restore', 'failover', 'snapshot'];

/**
 * Every action from every status, written out by hand: the status held while the action runs,
 * or `-` where it is refused with CONFLICT. Columns in the order of ACTIONS.
 */
const EXPECTED = `
               start     stop      restart   rebuild     destroy     migrate    restore    failover     snapshot
CREATING       -         -         -         -           -           -          -          -            -
CREATED        STARTING  -         -         REBUILDING  DESTROYING  MIGRATING  RESTORING  FAILING_OVER SNAPSHOTTING
STARTING       -         -         -         -           -           -          -          FAILING_OVER -
RUNNING        -         STOPPING  STOPPING  REBUILDING  DESTROYING  MIGRATING  RESTORING  FAILING_OVER SNAPSHOTTING
STOPPING       -         -         -         -           -           -          -          FAILING_OVER -
STOPPED        STARTING  -         -         REBUILDING  DESTROYING  MIGRATING  RESTORING  FAILING_OVER SNAPSHOTTING
REBUILDING     -         -         -         -           -           -          -          -            -
DESTROYING     -         -         -         -           -           -          -          -            -
DESTROYED      -         -         -         -           -           -          -          -            -
FAILED         -         -         -         -           DESTROYING  -          RESTORING  -            -
MIGRATING      -         -         -         -           -           -          -          -            -
RESTORING      -         -         -         -           -           -          -          -            -
FAILING_OVER   -         -         -         -           -           -          -          -            -
SNAPSHOTTING   -         -         -         -           -           -          -          -            -
`;

const rows = EXPECTED.trim()
  .split('\n')
  .slice(1)
  .map((line) => line.trim().split(/\s+/));

/** What `transientStatusFor` answers: the transient status, or the error's category. */
function outcome(action: Transition, status: EnvironmentStatus): string {
  try {
    return transientStatusFor(action, status, 'web');
  } catch (e) {
    return (e as { category?: string }).category ?? String(e);
  }
}

describe('the environment state machine', () => {
  test('the table covers every status and every action', () => {
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.values(EnvironmentStatus).sort());
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...ACTIONS].sort());
  });

  test.each(rows.map((r) => [r[0]!, r.slice(1)] as const))('from %s: each action is allowed into its transient status or refused with CONFLICT', (status, expected) => {
    const found = ACTIONS.map((a) => outcome(a, status as EnvironmentStatus));
    expect(found).toEqual(expected.map((e) => (e === '-' ? 'CONFLICT' : e)));
  });

  test('a refusal names the action, the status and where the action may start from', () => {
    expect(() => transientStatusFor('stop', EnvironmentStatus.MIGRATING, 'web')).toThrow('Cannot stop environment web: it is MIGRATING (allowed from RUNNING)');
  });

  test('the transient statuses are the ones a step holds, the new ones among them', () => {
    expect([...TRANSIENT_STATUSES].sort()).toEqual(['CREATING', 'DESTROYING', 'FAILING_OVER', 'MIGRATING', 'REBUILDING', 'RESTORING', 'SNAPSHOTTING', 'STARTING', 'STOPPING']);
    for (const { during } of Object.values(TRANSITIONS)) expect(TRANSIENT_STATUSES.has(during)).toBe(true);
  });

  test('a step ends where ENDINGS allow (migrate, restore and failover also back where they started, or FAILED); elsewhere, or from a status no step holds, is CONFLICT', () => {
    for (const action of ['start', 'stop', 'restart', 'migrate', 'restore', 'failover', 'snapshot'] as const) {
      const rule = TRANSITIONS[action];
      expect({ action, back: rule.from.filter((from) => !ENDINGS[rule.during].includes(from)) }).toEqual({ action, back: [] });
    }
    for (const rule of Object.values(TRANSITIONS)) expect(ENDINGS[rule.during]).toContain(EnvironmentStatus.FAILED);
    expect(() => checkEnding(EnvironmentStatus.MIGRATING, EnvironmentStatus.RUNNING, 'web')).not.toThrow();
    expect(() => checkEnding(EnvironmentStatus.MIGRATING, EnvironmentStatus.DESTROYED, 'web')).toThrow(expect.objectContaining({ category: 'CONFLICT' }));
    expect(() => checkEnding(EnvironmentStatus.RUNNING, EnvironmentStatus.STOPPED, 'web')).toThrow(/no step holds it/);
  });

  test('after a gateway restart a transient status settles from the engine; the others stay', () => {
    for (const status of [EnvironmentStatus.MIGRATING, EnvironmentStatus.RESTORING, EnvironmentStatus.FAILING_OVER, EnvironmentStatus.STARTING]) {
      expect([settledStatus(status, 'running'), settledStatus(status, 'stopped'), settledStatus(status, 'created'), settledStatus(status, undefined)]).toEqual(['RUNNING', 'STOPPED', 'STOPPED', 'FAILED']);
    }
    expect(settledStatus(EnvironmentStatus.DESTROYING, 'stopped')).toBe('FAILED');
    expect(settledStatus(EnvironmentStatus.RUNNING, undefined)).toBe('RUNNING');
    expect(settledStatus(EnvironmentStatus.FAILED, 'running')).toBe('FAILED');
  });

  test('drift: a restore not yet on the engine is none; a migrating environment missing from its host is', () => {
    expect(driftOf(EnvironmentStatus.RESTORING, undefined)).toBeNull();
    expect(driftOf(EnvironmentStatus.MIGRATING, undefined)).toBe('missing on the engine');
    expect(driftOf(EnvironmentStatus.RUNNING, 'stopped')).toBe('recorded RUNNING, the engine reports stopped');
  });
});
