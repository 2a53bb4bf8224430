/** How results are printed: tables and units for people, `--json` for scripts. */

/** A column of a table: the header and how to show a row's cell. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Lays rows out as a left-aligned table with a header line; `(none)` when empty. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  if (!rows.length) return '(none)\n';
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (parts: string[]) => parts.map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')}\n`;
}

/** Key/value lines for one object, keys aligned. */
export function details(pairs: Array<[string, unknown]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cellText(v)}`).join('\n')}\n`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(cellText).join(',') : '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Writes `data` as JSON when asked, else what `human` renders. */
export function emit(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human());
}

function scaled(value: number, base: number, units: string[]): string {
  let i = 0;
  let v = value;
  while (Math.abs(v) >= base && i < units.length - 1) {
    v /= base;
    i += 1;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2).replace(/\.?0+$/, '');
  return `${text} ${units[i]}`;
}

/** Bytes in binary units: `2 GiB`, `512 MiB`, `1.5 KiB`. */
export function humanBytes(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
}

/** A rate in decimal units: `1.5 Mbit/s`, `1 Gbit/s`. */
export function humanBitsPerSecond(bits: number): string {
  return scaled(bits, 1000, ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s']);
}

/** An amount of a resource in the unit it is counted in. */
export function humanAmount(value: number, unit: string): string {
  switch (unit) {
    case 'BYTES':
      return humanBytes(value);
    case 'BITS_PER_SECOND':
      return humanBitsPerSecond(value);
    case 'CORES':
      return `${+value.toFixed(2)} cores`;
    case 'MHZ':
      return `${+value.toFixed(0)} MHz`;
    default:
      return String(+value.toFixed(2));
  }
}

/** Parses `2GiB`, `512M`, `1.5 GB`, `1073741824` into bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: "${text}" (e.g. 512MiB, 2GiB)`);
  const power = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  const base = m[3]!.toLowerCase() === 'b' && m[2] ? 1000 : 1024;
  return Math.round(Number(m[1]) * base ** power);
}
