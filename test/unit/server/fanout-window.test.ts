import { FANOUT_FLUSH_MAX_MS, FANOUT_FLUSH_MIN_MS, fanoutWindowMs } from '../../../gateway/server/shared-execution';

describe('the fan-out flush window', () => {
  test('is the shortest while few events reach each socket, grows with their rate, and never passes the longest', () => {
    for (const rate of [Number.NaN, -1, 0, 1, 50, 100, 130]) expect(fanoutWindowMs(rate)).toBe(FANOUT_FLUSH_MIN_MS);
    const windows = [140, 160, 180].map(fanoutWindowMs);
    expect(windows[0]).toBeGreaterThan(FANOUT_FLUSH_MIN_MS);
    for (let i = 1; i < windows.length; i++) expect(windows[i]).toBeGreaterThan(windows[i - 1]!);
    expect(windows[windows.length - 1]).toBeLessThan(FANOUT_FLUSH_MAX_MS);
    for (const rate of [200, 1000, Number.POSITIVE_INFINITY]) expect(fanoutWindowMs(rate)).toBe(FANOUT_FLUSH_MAX_MS);
  });
});
