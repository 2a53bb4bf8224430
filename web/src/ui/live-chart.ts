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
  /** Points kept (the oldest are dropped); default 120. */
  window?: number;
  height?: number;
}

/**
 * A uPlot chart fed one point at a time (from a subscription): keeps the last `window` points,
 * fits its container's width, and exposes its point count as `data-points` on its element.
 */
export class LiveChart {
  /** The chart's element (a figure with a title, the plot and the legend). */
  readonly el: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly times: number[] = [];
  private readonly values: number[][];
  private plot: uPlot | undefined;
  private readonly resizeObserver: ResizeObserver;
  private readonly window: number;

  constructor(private readonly options: LiveChartOptions) {
    this.window = options.window ?? 120;
    this.values = options.series.map(() => []);
    this.plotEl = h('div', { class: 'chart-plot' });
    this.el = h('figure', { class: 'chart', dataset: { points: '0', chart: options.title } }, h('figcaption', null, options.title), this.plotEl, h('p', { class: 'chart-waiting muted' }, 'Waiting for samples…'));
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(this.el);
  }

  /** Adds a point: its time (ms since the epoch) and one value per series. */
  push(atMs: number, values: number[]): void {
    this.times.push(atMs / 1000);
    values.forEach((v, i) => this.values[i]?.push(v));
    if (this.times.length > this.window) {
      this.times.shift();
      for (const series of this.values) series.shift();
    }
    this.el.dataset.points = String(this.times.length);
    this.el.dataset.last = values.map((v) => String(v)).join(',');
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
        // At least a minute wide, so that the first samples do not stretch over the whole chart.
        scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN_SECONDS), max] }, y: range ? { range } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [axis, { ...axis, size: 84, values: (_u, ticks) => ticks.map(format) }],
        series: [
          { value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
          ...this.options.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: `${s.color}22`, points: { show: false }, value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)) })),
        ],
      },
      data,
      this.plotEl,
    );
  }
}
