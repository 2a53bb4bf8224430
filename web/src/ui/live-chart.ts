import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

/** The narrowest time span a chart shows, in seconds. */
const MIN_SPAN_SECONDS = 60;

/** One line of a live chart. */
export interface LiveSeries {
  label: string;
  color: string;
}

/** Options of a live chart. */
export interface LiveChartOptions {
  title: string;
  series: LiveSeries[];
  /** How a value is written on the axis and in the legend. */
  format: (value: number) => string;
  /** Fixed y range (e.g. 0–100 for percentages); default: from the data, from 0. */
  range?: [number, number];
  /** Points kept (the oldest are dropped); default 120. Unused while a `span` is set. */
  window?: number;
  /** Seconds of the newest kept (older points are dropped), instead of a count of points. */
  span?: number;
  height?: number;
}

/**
 * A uPlot chart fed one point at a time (from a subscription), optionally after a past loaded
 * at once (`setHistory`): keeps the last `window` points (or the last `span` seconds), fits its
 * container's width, and exposes its point count as `data-points` on its element (and how many
 * of them came from the history as `data-history`).
 */
export class LiveChart {
  /** The chart's element (a figure with a title, the plot and the legend). */
  readonly el: HTMLElement;
  private readonly plotEl: HTMLElement;
  private times: number[] = [];
  private values: Array<Array<number | null>>;
  private plot: uPlot | undefined;
  private readonly resizeObserver: ResizeObserver;
  private readonly window: number;
  private span: number | undefined;

  constructor(private readonly options: LiveChartOptions) {
    this.window = options.window ?? 120;
    this.span = options.span;
    this.values = options.series.map(() => []);
    this.plotEl = h('div', { class: 'chart-plot' });
    this.el = h('figure', { class: 'chart', dataset: { points: '0', history: '0', chart: options.title } }, h('figcaption', null, options.title), this.plotEl, h('p', { class: 'chart-waiting muted' }, 'Waiting for samples…'));
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(this.el);
  }

  /** Adds a point: its time (ms since the epoch) and one value per series. */
  push(atMs: number, values: number[]): void {
    const at = atMs / 1000;
    // A live sample older than the newest point (the history's last bucket) would fold the line back.
    if (this.times.length && at <= this.times[this.times.length - 1]!) return;
    this.times.push(at);
    this.values.forEach((series, i) => series.push(values[i] ?? null));
    const drop = this.span === undefined ? this.times.length - this.window : this.times.findIndex((t) => t >= at - this.span!);
    if (drop > 0) {
      this.times.splice(0, drop);
      for (const series of this.values) series.splice(0, drop);
    }
    this.el.dataset.last = values.map((v) => String(v)).join(',');
    this.draw();
  }

  /**
   * Replaces what the chart shows by a past: `times` in ms since the epoch, one list of values
   * per series (null where a series has no point). `span` (seconds) is the width shown and kept.
   */
  setHistory(times: number[], values: Array<Array<number | null>>, span: number | undefined): void {
    this.span = span;
    this.times = times.map((t) => t / 1000);
    this.values = this.options.series.map((_s, i) => values[i] ?? times.map(() => null));
    this.el.dataset.history = String(times.length);
    this.el.dataset.span = span === undefined ? '' : String(span);
    if (!times.length) this.clear('No samples stored in this range yet.');
    else this.draw();
  }

  /** Shows no plot, only `message` (until points come). */
  private clear(message: string): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.el.dataset.points = '0';
    this.el.querySelector('.chart-waiting')?.remove();
    this.el.append(h('p', { class: 'chart-waiting muted' }, message));
  }

  private draw(): void {
    this.el.dataset.points = String(this.times.length);
    if (!this.times.length) return;
    this.el.querySelector('.chart-waiting')?.remove();
    const data = [this.times, ...this.values] as uPlot.AlignedData;
    if (this.plot) this.plot.setData(data);
    else this.plot = this.create(data);
    // Unless the pointer is on the chart, the legend shows the latest values.
    if ((this.plot.cursor.left ?? -1) < 0) this.plot.setLegend({ idx: this.times.length - 1 });
  }

  /** How many points it shows. */
  get points(): number {
    return this.times.length;
  }

  /** Frees the chart. */
  destroy(): void {
    this.resizeObserver.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private width(): number {
    return Math.max(200, Math.floor(this.el.clientWidth || 600) - 2);
  }

  private fit(): void {
    if (this.plot) this.plot.setSize({ width: this.width(), height: this.options.height ?? 180 });
  }

  private create(data: uPlot.AlignedData): uPlot {
    const { format, range } = this.options;
    const style = getComputedStyle(document.documentElement);
    const axisColor = style.getPropertyValue('--muted').trim() || '#888';
    const gridColor = style.getPropertyValue('--grid').trim() || 'rgba(128,128,128,.15)';
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } };
    return new uPlot(
      {
        width: this.width(),
        height: this.options.height ?? 180,
        cursor: { drag: { x: false, y: false } },
        // The span shown (at least a minute), so that the first samples do not stretch over the
        // whole chart; it ends at the newest point (uPlot pads a single point by a day's worth of units).
        scales: { x: { time: true, range: (_u, min, max) => { const newest = this.times[this.times.length - 1] ?? max; return [Math.min(min, newest - Math.max(MIN_SPAN_SECONDS, this.span ?? 0)), newest]; } }, y: range ? { range } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [axis, { ...axis, size: 84, values: (_u, ticks) => ticks.map(format) }],
        series: [
          { value: (_u, v) => (v === null ? '—' : (this.span ?? 0) > 86_400 ? new Date(v * 1000).toLocaleString() : new Date(v * 1000).toLocaleTimeString()) },
          ...this.options.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: `${s.color}22`, points: { show: false }, value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)) })),
        ],
      },
      data,
      this.plotEl,
    );
  }
}
