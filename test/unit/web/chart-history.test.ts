import type { DataSource } from 'typeorm';
import { HistoryStore, MAX_HISTORY_POINTS } from '../../../gateway/metrics/history-store';
import { align } from '../../../web/src/ui/series';
import { rangeStart, TIME_RANGES } from '../../../web/src/ui/time-range';

describe("the dashboard charts' past", () => {
  test('series with different points share one time axis, gaps as null', () => {
    const rx = [
      { at: '2026-01-01T12:00:10Z', value: 2 },
      { at: '2026-01-01T12:00:00Z', value: 1 },
    ];
    const tx = [
      { at: '2026-01-01T12:00:00Z', value: 5 },
      { at: '2026-01-01T12:00:20Z', value: 7 },
    ];
    expect(align([rx, tx])).toEqual({
      times: [Date.parse('2026-01-01T12:00:00Z'), Date.parse('2026-01-01T12:00:10Z'), Date.parse('2026-01-01T12:00:20Z')],
      values: [
        [1, 2, null],
        [5, null, 7],
      ],
    });
    expect(align([[]])).toEqual({ times: [], values: [[]] });
  });

  // The gateway's own choice of stored level (no database needed for it).
  const store = new HistoryStore({ getRepository: () => ({}) } as unknown as DataSource);

  test.each(TIME_RANGES.map((r) => [r.id, r] as const))('the %s range reads the finest stored level that covers it, within the point limit', (_id, range) => {
    const now = Date.now();
    // The browser's clock may run a few seconds behind the gateway's: the level must still cover the range.
    const from = rangeStart(range, now - 5_000);
    const level = store.levelFor(from, range.step, now);
    const finest = { hour: 1, day: 60, week: 60, month: 3600, year: 3600 }[range.id];
    expect(level.resolutionSeconds).toBe(finest);
    expect(range.step % level.resolutionSeconds).toBe(0);
    const points = range.seconds / range.step;
    expect(points).toBeLessThanOrEqual(MAX_HISTORY_POINTS);
    expect(points).toBeGreaterThanOrEqual(168);
  });
});
