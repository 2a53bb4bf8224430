/**
 * The dashboard's shared table widget: every list (hosts, environments, groups, operations,
 * alerts, replicas…) is one. A click or Enter on a column header sorts by it (again: the other
 * way), a filter box keeps the rows whose text holds every word typed, and an empty list says
 * what to do next. Sort and filter survive the table being drawn again (live reloads).
 */
import { Child, h, replace } from './dom';

/** A cell with an explicit sort key (a number for sizes, times, percentages), shown as `content`. */
export class SortedCell {
  constructor(
    readonly content: Child,
    readonly key: string | number,
  ) {}
}

/** A cell shown as `content` and sorted by `key` (e.g. `sortBy(bytes(n), n)`). */
export function sortBy(content: Child, key: string | number): SortedCell {
  return new SortedCell(content, key);
}

/** What a table cell may hold: anything an element can, or a cell with a sort key. */
export type TableCell = Child | SortedCell;

/** Options of a table. */
export interface TableOptions {
  /** What an empty list says (best: what to do next); text or nodes. */
  empty?: Child;
  /** Whether to show the filter box: always (true), never (false), or from 6 rows (default). */
  filter?: boolean;
  /** What the table lists, for its accessible name and the filter's label (e.g. "hosts"). */
  label?: string;
  /** Where its sort and filter are remembered across redraws; default: the page and the headers. */
  key?: string;
}

/** Rows from which the filter box shows by default. */
const FILTER_FROM_ROWS = 6;

/** A column sorted, and which way. */
interface SortState {
  column: number;
  descending: boolean;
}

/** Each table's sort and filter, by key, for as long as the page lives. */
const remembered = new Map<string, { sort?: SortState; filter: string }>();

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

interface Row {
  el: HTMLTableRowElement;
  keys: Array<string | number>;
  text: string;
}

/** The text of a cell's content (for filtering and the default sort key). */
function textOf(content: Child): string {
  if (content === null || content === undefined || content === false) return '';
  if (Array.isArray(content)) return content.map(textOf).join(' ');
  if (typeof content === 'object') return content.textContent ?? '';
  return String(content);
}

function compare(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * A sortable, filterable table: `headers` name the columns (an empty header is not sortable,
 * e.g. a column of buttons), `rows` are lists of cells. Rows keep their given order until a
 * header is chosen.
 */
export function dataTable(headers: string[], rows: TableCell[][], options: TableOptions = {}): HTMLElement {
  const { empty = 'Nothing here yet.', label } = options;
  if (!rows.length) return h('div', { class: 'empty' }, empty);
  const key = options.key ?? `${location.pathname}|${label ?? ''}|${headers.join('|')}`;
  const state = remembered.get(key) ?? { filter: '' };
  remembered.set(key, state);

  const body: Row[] = rows.map((cells) => {
    const contents = cells.map((c) => (c instanceof SortedCell ? c.content : c));
    const el = h('tr', null, contents.map((c) => h('td', null, c)));
    return { el, keys: cells.map((c, i) => (c instanceof SortedCell ? c.key : textOf(contents[i] ?? ''))), text: contents.map(textOf).join(' ').toLowerCase() };
  });
  const tbody = h('tbody', null, body.map((r) => r.el));
  const count = h('span', { class: 'muted small table-count', 'aria-live': 'polite' });
  const none = h('p', { class: 'empty table-none', hidden: true }, 'No rows match the filter.');

  const ths = headers.map((text, column) => {
    if (!text) return h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'));
    const button = h('button', { type: 'button', class: 'th-sort', onclick: () => sortOn(column) }, text, h('span', { class: 'th-arrow', 'aria-hidden': 'true' }));
    return h('th', { scope: 'col', 'aria-sort': 'none' }, button);
  });

  const sortOn = (column: number) => {
    state.sort = state.sort?.column === column ? { column, descending: !state.sort.descending } : { column, descending: false };
    draw();
  };

  const withFilter = options.filter ?? rows.length >= FILTER_FROM_ROWS;
  const draw = () => {
    const words = (withFilter ? state.filter : '').toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const r of body) {
      const visible = words.every((w) => r.text.includes(w));
      r.el.hidden = !visible;
      if (visible) shown++;
    }
    if (state.sort) {
      const { column, descending } = state.sort;
      const sorted = [...body].sort((a, b) => compare(a.keys[column] ?? '', b.keys[column] ?? '') * (descending ? -1 : 1));
      tbody.append(...sorted.map((r) => r.el));
    }
    ths.forEach((th, i) => {
      if (!th.hasAttribute('aria-sort')) return;
      const sorted = state.sort?.column === i;
      th.setAttribute('aria-sort', sorted ? (state.sort!.descending ? 'descending' : 'ascending') : 'none');
      const arrow = th.querySelector('.th-arrow');
      if (arrow) arrow.textContent = sorted ? (state.sort!.descending ? ' ▼' : ' ▲') : '';
    });
    replace(count, shown === body.length ? `${body.length} ${body.length === 1 ? 'row' : 'rows'}` : `${shown} of ${body.length}`);
    none.hidden = shown > 0;
  };

  let toolbar: HTMLElement | null = null;
  if (withFilter) {
    const input = h('input', { type: 'search', class: 'table-filter', placeholder: 'Filter…', 'aria-label': `Filter ${label ?? 'rows'}`, value: state.filter, dataset: { tableKey: key } });
    input.value = state.filter;
    input.addEventListener('input', () => {
      state.filter = input.value;
      draw();
    });
    // Drawn again while typing (a live reload): keep the focus and the caret in the new box.
    const active = document.activeElement;
    if (active instanceof HTMLInputElement && active.dataset.tableKey === key) {
      const caret = active.selectionStart;
      queueMicrotask(() => {
        if (!input.isConnected) return;
        input.focus();
        if (caret !== null) input.setSelectionRange(caret, caret);
      });
    }
    toolbar = h('div', { class: 'table-tools' }, input, count);
  }

  const table = h('table', { class: 'data-table', 'aria-label': label ?? null }, h('thead', null, h('tr', null, ths)), tbody);
  draw();
  return h('div', { class: 'table-box' }, toolbar, h('div', { class: 'table-wrap' }, table), none);
}
