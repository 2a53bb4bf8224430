import { AgentLease, leaseMargin, leaseUntil } from '../../../gateway/agent/remote/agent-lease';

/** The lease a heartbeat earns ends strictly before the gateway may declare the host DOWN. */
describe('agent lease math', () => {
  test('leaseUntil = sentAt + downAfterMs − min(heartbeatMs, (downAfterMs − heartbeatMs) / 2)', () => {
    expect(leaseUntil(10_000, { heartbeatMs: 1000, downAfterMs: 3000 })).toBe(10_000 + 3000 - 1000);
    expect(leaseUntil(10_000, { heartbeatMs: 1000, downAfterMs: 1500 })).toBe(10_000 + 1500 - 250);
    expect(leaseUntil(0, { heartbeatMs: 200, downAfterMs: 1500 })).toBe(1300);
  });

  test.each([
    [50, 100],
    [100, 500],
    [1000, 1001],
    [1000, 3000],
    [60_000, 3_600_000],
  ])('heartbeat %i ms, DOWN after %i ms: the lease ends before the earliest DOWN, by a positive margin', (heartbeatMs, downAfterMs) => {
    const settings = { heartbeatMs, downAfterMs };
    const sentAt = 1_700_000_000_000;
    // The gateway receives the beat no sooner than it was sent, and declares DOWN only past receivedAt + downAfterMs.
    const earliestDown = sentAt + downAfterMs;
    expect(leaseUntil(sentAt, settings)).toBeLessThan(earliestDown);
    expect(leaseMargin(settings)).toBeGreaterThan(0);
    expect(leaseMargin(settings)).toBeLessThanOrEqual(heartbeatMs);
    // A healthy agent's next beat (one interval later) comes before its lease ends.
    expect(sentAt + heartbeatMs).toBeLessThanOrEqual(leaseUntil(sentAt, settings));
  });

  test('a lease only ever gets longer; none before the first answer', () => {
    const lease = new AgentLease();
    expect(lease.until).toBeUndefined();
    expect(lease.expired(Number.MAX_SAFE_INTEGER)).toBe(false);
    lease.renew(2000);
    lease.renew(1500);
    expect(lease.until).toBe(2000);
    expect(lease.remaining(1500)).toBe(500);
    expect(lease.expired(1999)).toBe(false);
    expect(lease.expired(2000)).toBe(true);
  });
});
