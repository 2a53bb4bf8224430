/**
 * The time ranges a chart's past is shown over (as Proxmox's graphs: hour, day, week, month,
 * year), each read at a step that gives a few hundred points, and the picker that chooses one.
 */
import { h } from './dom';

/** A time range of the charts. */
export interface TimeRange {
  id: 'hour' | 'day' | 'week' | 'month' | 'year';
  label: string;
  /** Its width, in seconds. */
  seconds: number;
  /** Seconds per point read from the metric history. */
  step: number;
}

/** The ranges offered, shortest first; the first is the default and the only one followed live. */
export const TIME_RANGES: readonly TimeRange[] = [
  { id: 'hour', label: 'Hour', seconds: 3600, step: 10 },
  { id: 'day', label: 'Day', seconds: 86_400, step: 120 },
  { id: 'week', label: 'Week', seconds: 7 * 86_400, step: 900 },
  { id: 'month', label: 'Month', seconds: 30 * 86_400, step: 3600 },
  { id: 'year', label: 'Year', seconds: 365 * 86_400, step: 43_200 },
];

/**
 * Where a range's history is read from: its start, a little later than its width ago, so that
 * the gateway reads the finest stored resolution that still covers it (the 1 s level is kept
 * for exactly an hour, the 1 min level for exactly a week).
 */
export function rangeStart(range: TimeRange, now = Date.now()): Date {
  return new Date(now - (range.seconds - Math.min(60, range.step * 3)) * 1000);
}

/**
 * Buttons choosing a range (the chosen one pressed); `choose` is called with the new one.
 * Arrow keys move between them, as in a toolbar.
 */
export function rangePicker(current: TimeRange, choose: (range: TimeRange) => void): HTMLElement {
  const buttons = TIME_RANGES.map((range) =>
    h(
      'button',
      {
        type: 'button',
        class: 'range-button',
        'aria-pressed': String(range.id === current.id),
        dataset: { range: range.id },
        onclick: () => {
          for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.range === range.id));
          choose(range);
        },
      },
      range.label,
    ),
  );
  const bar = h('div', { class: 'range-picker', role: 'toolbar', 'aria-label': 'Time range of the charts' }, buttons);
  bar.addEventListener('keydown', (event) => {
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0 || (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft')) return;
    event.preventDefault();
    buttons[(at + (event.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length]!.focus();
  });
  return bar;
}
