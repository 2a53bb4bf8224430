import { BadInputError } from '../errors';

/** When a policy runs: the next run strictly after a moment, and the shortest gap between two runs. */
export interface Schedule {
  /** The expression it was parsed from. */
  readonly expression: string;
  /** The first run strictly after `after`. */
  next(after: Date): Date;
  /** The shortest time between two consecutive runs, in ms. */
  readonly minimumGapMs: number;
}

const MINUTE = 60_000;
const EVERY = /^every\s+(\d+)\s*(m|min|mins|minute|minutes|h|hour|hours)$/i;

/** Minute, hour, day of month, month, day of week: their ranges. */
const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

/**
 * Parses a schedule: a 5-field cron expression in UTC (minute hour day-of-month month
 * day-of-week; each field `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n`, or a
 * comma list of those; day of week 0 or 7 is Sunday) or `every N minutes` / `every N hours`.
 * Refuses (BAD_USER_INPUT) expressions that never fire or that would run more often than
 * every `minimumIntervalMinutes`.
 */
export function parseSchedule(expression: string, minimumIntervalMinutes: number): Schedule {
  const text = expression.trim().replace(/\s+/g, ' ');
  const every = EVERY.exec(text);
  const schedule = every ? everySchedule(text, Number(every[1]) * (every[2]!.toLowerCase().startsWith('h') ? 60 : 1)) : cronSchedule(text);
  if (schedule.minimumGapMs < minimumIntervalMinutes * MINUTE) {
    throw new BadInputError(`Schedule "${expression}" would run every ${Math.round(schedule.minimumGapMs / MINUTE)} minute(s); the minimum interval is ${minimumIntervalMinutes} minutes`, { schedule: expression, minimumIntervalMinutes });
  }
  return schedule;
}

function everySchedule(expression: string, minutes: number): Schedule {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 525_600) throw new BadInputError(`"${expression}": the interval must be 1 minute to 1 year`, { schedule: expression });
  const gap = minutes * MINUTE;
  return { expression, minimumGapMs: gap, next: (after) => new Date(after.getTime() + gap) };
}

function cronSchedule(expression: string): Schedule {
  const parts = expression.split(' ');
  if (parts.length !== 5) throw new BadInputError(`"${expression}" is neither a 5-field cron expression (minute hour day-of-month month day-of-week) nor "every N minutes"`, { schedule: expression });
  const [minutes, hours, days, months, weekdaysRaw] = parts.map((p, i) => parseField(p, FIELDS[i]!, expression));
  const weekdays = new Set([...weekdaysRaw!].map((d) => d % 7));
  const domAny = parts[2] === '*';
  const dowAny = parts[4] === '*';
  const dayMatches = (d: Date) => {
    const dom = days!.has(d.getUTCDate());
    const dow = weekdays.has(d.getUTCDay());
    // Classic cron: when both day fields are restricted, either may match.
    if (!domAny && !dowAny) return dom || dow;
    return (domAny || dom) && (dowAny || dow);
  };
  const next = (after: Date): Date => {
    const t = new Date(after.getTime());
    t.setUTCSeconds(0, 0);
    t.setUTCMinutes(t.getUTCMinutes() + 1);
    const limit = after.getTime() + 5 * 366 * 24 * 60 * MINUTE;
    while (t.getTime() <= limit) {
      if (!months!.has(t.getUTCMonth() + 1)) {
        t.setUTCMonth(t.getUTCMonth() + 1, 1);
        t.setUTCHours(0, 0, 0, 0);
        continue;
      }
      if (!dayMatches(t)) {
        t.setUTCDate(t.getUTCDate() + 1);
        t.setUTCHours(0, 0, 0, 0);
        continue;
      }
      if (!hours!.has(t.getUTCHours())) {
        t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
        continue;
      }
      if (!minutes!.has(t.getUTCMinutes())) {
        t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
        continue;
      }
      return t;
    }
    throw new BadInputError(`Schedule "${expression}" never fires`, { schedule: expression });
  };
  return { expression, next, minimumGapMs: minimumGap(next) };
}

/** The smallest gap between consecutive runs over the next 400 days (enough to cover every month and weekday pairing that matters). */
function minimumGap(next: (after: Date) => Date): number {
  let at = next(new Date(Date.UTC(2024, 0, 1)));
  const end = Date.UTC(2025, 1, 5);
  let gap = Infinity;
  for (let i = 0; i < 20_000 && at.getTime() < end; i++) {
    const following = next(at);
    gap = Math.min(gap, following.getTime() - at.getTime());
    if (gap <= MINUTE) break;
    at = following;
  }
  return gap;
}

function parseField(field: string, range: { name: string; min: number; max: number }, expression: string): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) => new BadInputError(`"${expression}": ${range.name} field "${field}" ${why}`, { schedule: expression, field: range.name });
  for (const item of field.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw bad('is not *, a number, a range a-b, a step */n or a list of those');
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (step < 1) throw bad('has a step below 1');
    let from = range.min;
    let to = range.max;
    if (m[1] !== '*') {
      from = Number(m[2]);
      to = m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? range.max : from;
    }
    if (from < range.min || to > range.max || from > to) throw bad(`is outside ${range.min}-${range.max}`);
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}
