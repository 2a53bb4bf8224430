/** How results are printed: tables and units for people, `--json` for scripts. */

/** Amounts as people read them, shared with the gateway's refusals. */
export { humanAmount, humanBitsPerSecond, humanBytes } from '../placement/amount-text';

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
  return printable(String(value));
}

/** C0 and C1 control characters, DEL, and the bidirectional overrides and isolates (which reorder what follows them). */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from the gateway made safe to print on a terminal: control characters (escape sequences,
 * newlines that would forge table rows or lines) and bidirectional overrides become visible
 * escapes (`\x1b`, `\n`, `\u202e`). Names, descriptions and reasons come from other groups (a
 * public image's name, an offer's terms, a host admin's stop reason): printed as they came, they
 * could rewrite the screen, retitle the window or write the clipboard of whoever lists them.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Like `printable`, but keeps newlines: for the CLI's own messages, which may span lines, yet quote
 * what came from the gateway or a file (whose own newlines the quoting already escaped with `printable`).
 */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** What every error rsp prints starts with. */
const ERROR_PREFIX = 'rsp: ';

/**
 * An error as rsp prints it: `rsp: `, the message (`printableLines`) and its `[code]` when it has
 * one, each line of the message after the first indented under the first's text, so that a message
 * of several lines (a configuration's problems, a stack) reads as one error and none of its lines
 * passes for another. Ends with a newline.
 */
export function errorText(message: string, code?: string | null): string {
  const lines = printableLines(message).split('\n');
  const indent = ' '.repeat(ERROR_PREFIX.length);
  const text = lines.map((line, i) => (i === 0 || !line ? line : `${indent}${line}`)).join('\n');
  return `${ERROR_PREFIX}${text}${code ? ` [${printable(code)}]` : ''}\n`;
}

/** Writes `data` as JSON when asked, else what `human` renders. */
export function emit(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human());
}

/** Parses `2GiB`, `512M`, `1.5 GB`, `1073741824` into bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: "${text}" (e.g. 512MiB, 2GiB)`);
  const power = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  const base = m[3]!.toLowerCase() === 'b' && m[2] ? 1000 : 1024;
  return Math.round(Number(m[1]) * base ** power);
}

/** Parses a rate `100Mbit`, `1.5 Gbit/s`, `1e9` into bits per second (decimal units). */
export function parseBitsPerSecond(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)(?:bit|b|bps)?(?:\/s)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a rate: "${text}" (e.g. 100Mbit, 1Gbit/s)`);
  return Math.round(Number(m[1]) * 1000 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()));
}

/** The unit a resource type is usually counted in: RAM and DISK in bytes, CPU in cores… */
export function defaultUnitOf(type: string): string {
  switch (type.toUpperCase()) {
    case 'RAM':
    case 'DISK':
      return 'BYTES';
    case 'CPU':
      return 'CORES';
    case 'NET_BANDWIDTH':
      return 'BITS_PER_SECOND';
    default:
      return 'COUNT';
  }
}

/** Parses an amount in `unit`: sizes for BYTES (`2GiB`), rates for BITS_PER_SECOND (`100Mbit`), else a number. */
export function parseAmount(text: string, unit: string): number {
  if (unit === 'BYTES') return parseBytes(text);
  if (unit === 'BITS_PER_SECOND') return parseBitsPerSecond(text);
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`not a number: "${text}"`);
  return n;
}

/** Used out of total memory in GiB, one decimal: `3.2/15.6 GiB`. */
export function usedOfTotalGiB(used: number, total: number): string {
  const gib = (n: number) => (n / 2 ** 30).toFixed(1);
  return `${gib(used)}/${gib(total)} GiB`;
}

/** A 0–1 fraction as a percentage: `42.5%`. */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** A property or requirement value typed from text: `true`/`false`, numbers, else the string. */
export function parseValue(text: string): string | number | boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
