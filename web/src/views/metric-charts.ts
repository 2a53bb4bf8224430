import type { HistoryFieldsFragment } from '../api/queries';
import { h, replace, Scope } from '../ui/dom';
import { LiveChart } from '../ui/live-chart';
import { align, SeriesPoint } from '../ui/series';
import { rangePicker, rangeStart, TIME_RANGES, TimeRange } from '../ui/time-range';
import { errorBox } from '../ui/widgets';

/** One chart of a page: its series from the history answer `H`, its values from a live sample `S`. */
export interface PastChart<H, S> {
  chart: LiveChart;
  /** Each series' stored points (values already in the chart's unit). */
  history: (answer: H) => SeriesPoint[][];
  /** One value per series from a live sample. */
  live: (sample: S) => number[];
}

/** How a page's charts get their past and their present. */
export interface ChartsWithPastOptions<H, S> {
  charts: Array<PastChart<H, S>>;
  /** Reads the history from `from` at `step` seconds per point. */
  load: (from: Date, step: number) => Promise<H>;
  /** Says how far the charts go (replaced by the answer's resolution or an error). */
  note: HTMLElement;
}

/** Live samples kept while a history loads, re-applied after it (those newer than its last point). */
const RECENT = 30;

/** A history's points scaled by `factor` (e.g. a 0–1 ratio to a percentage). */
export function scaled(series: HistoryFieldsFragment, factor: number): SeriesPoint[] {
  return series.points.map((p) => ({ at: p.at, value: p.value * factor }));
}

/**
 * Charts with a past: opens on the last hour from the metric history, then appends the live
 * samples given to `push`; the range picker reloads the history over a day, week, month or
 * year (those are not followed live: they are read again every minute). Put `picker` on the
 * page to offer the other ranges.
 */
export function chartsWithPast<H, S>(scope: Scope, options: ChartsWithPastOptions<H, S>): { picker: HTMLElement; push: (atMs: number, sample: S) => void } {
  const { charts, load, note } = options;
  const recent: Array<{ atMs: number; sample: S }> = [];
  // Every page opens on the last hour.
  let chosen: TimeRange = TIME_RANGES[0]!;
  let seq = 0;
  let loaded = false;

  const show = (range: TimeRange) => {
    const mine = ++seq;
    loaded = false;
    replace(note, `Loading the last ${range.label.toLowerCase()}…`);
    load(rangeStart(range), range.step).then(
      (answer) => {
        if (scope.ended || mine !== seq) return;
        const live = range.id === 'hour';
        for (const c of charts) {
          const { times, values } = align(c.history(answer));
          c.chart.setHistory(times, values, range.seconds);
        }
        loaded = true;
        if (live) for (const r of recent) for (const c of charts) c.chart.push(r.atMs, c.live(r.sample));
        const points = Math.max(0, ...charts.map((c) => Number(c.chart.el.dataset.history)));
        replace(note, `${range.label}: ${points} stored point${points === 1 ? '' : 's'} (one per ${range.step >= 3600 ? `${range.step / 3600} h` : range.step >= 60 ? `${range.step / 60} min` : `${range.step} s`})${live ? ', then live' : ', read again every minute'}.`);
      },
      (e: unknown) => {
        if (scope.ended || mine !== seq) return;
        loaded = true;
        replace(note, errorBox(e));
      },
    );
  };

  const refresh = setInterval(() => {
    if (chosen.id !== 'hour') show(chosen);
  }, 60_000);
  scope.add(() => clearInterval(refresh));
  show(chosen);

  const picker = rangePicker(chosen, (range) => {
    chosen = range;
    show(range);
  });
  return {
    picker,
    push: (atMs, sample) => {
      recent.push({ atMs, sample });
      if (recent.length > RECENT) recent.shift();
      if (chosen.id !== 'hour' || !loaded) return;
      for (const c of charts) c.chart.push(atMs, c.live(sample));
    },
  };
}

/** A panel head for charts: the range picker beside the note saying what they show. */
export function chartsHead(picker: HTMLElement, note: HTMLElement): HTMLElement {
  return h('div', { class: 'charts-head' }, picker, note);
}
