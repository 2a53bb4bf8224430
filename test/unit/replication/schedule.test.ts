import { parseSchedule } from '../../../gateway/replication/schedule';

const at = (iso: string) => new Date(iso);
const iso = (d: Date) => d.toISOString();

describe('replication schedules', () => {
  test('*/n steps from the start of the range and wraps to the next hour', () => {
    const s = parseSchedule('*/15 * * * *', 5);
    expect(iso(s.next(at('2026-03-01T10:07:30Z')))).toBe('2026-03-01T10:15:00.000Z');
    expect(iso(s.next(at('2026-03-01T10:45:00Z')))).toBe('2026-03-01T11:00:00.000Z');
    expect(s.minimumGapMs).toBe(15 * 60_000);
  });

  test('ranges, lists and ranged steps', () => {
    const s = parseSchedule('0,30 9-17/4 * * *', 5);
    // hours 9, 13, 17
    expect(iso(s.next(at('2026-03-01T09:30:00Z')))).toBe('2026-03-01T13:00:00.000Z');
    expect(iso(s.next(at('2026-03-01T17:30:00Z')))).toBe('2026-03-02T09:00:00.000Z');
  });

  test('day of week (0 and 7 are Sunday) and month roll over years', () => {
    const sundays = parseSchedule('0 3 * * 7', 5);
    expect(iso(sundays.next(at('2026-03-02T00:00:00Z')))).toBe('2026-03-08T03:00:00.000Z');
    const newYear = parseSchedule('0 0 1 1 *', 5);
    expect(iso(newYear.next(at('2026-06-01T00:00:00Z')))).toBe('2027-01-01T00:00:00.000Z');
  });

  test('both day fields restricted: either matches (classic cron)', () => {
    const s = parseSchedule('0 0 13 * 5', 5); // the 13th or any Friday
    expect(iso(s.next(at('2026-03-01T00:00:00Z')))).toBe('2026-03-06T00:00:00.000Z'); // Friday 6 March
    expect(iso(s.next(at('2026-03-12T00:00:00Z')))).toBe('2026-03-13T00:00:00.000Z'); // 13th (also a Friday)
  });

  test('"every N minutes" and "every N hours"', () => {
    expect(iso(parseSchedule('every 10 minutes', 5).next(at('2026-03-01T10:00:00Z')))).toBe('2026-03-01T10:10:00.000Z');
    expect(parseSchedule('Every 2 hours', 5).minimumGapMs).toBe(2 * 3_600_000);
  });

  test('the minimum interval is enforced, including across the hour boundary', () => {
    expect(() => parseSchedule('* * * * *', 5)).toThrow(/every 1 minute\(s\); the minimum interval is 5 minutes/);
    expect(() => parseSchedule('every 2 minutes', 5)).toThrow(/minimum interval is 5 minutes/);
    // 0,7,…,56 then 0 again: 4 minutes between :56 and :00
    expect(() => parseSchedule('*/7 * * * *', 5)).toThrow(/every 4 minute/);
    expect(parseSchedule('*/7 * * * *', 4).minimumGapMs).toBe(4 * 60_000);
  });

  test('bad expressions are BAD_USER_INPUT with the reason', () => {
    const code = (expr: string) => {
      try {
        parseSchedule(expr, 5);
        return 'accepted';
      } catch (e) {
        return `${(e as { category: string }).category}: ${(e as Error).message}`;
      }
    };
    expect(code('0 0 * *')).toMatch(/^BAD_USER_INPUT: .*neither a 5-field cron/);
    expect(code('61 * * * *')).toMatch(/^BAD_USER_INPUT: .*minute field "61" is outside 0-59/);
    expect(code('0 0 30 2 *')).toMatch(/^BAD_USER_INPUT: .*never fires/);
    expect(code('*/0 * * * *')).toMatch(/^BAD_USER_INPUT: .*step below 1/);
    expect(code('a b c d e')).toMatch(/^BAD_USER_INPUT/);
  });
});
