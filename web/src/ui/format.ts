/** Human units for the dashboard: IEC bytes, percentages, rates and times. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let value = Math.abs(n);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** Bytes per second → "1.2 MiB/s". */
export function byteRate(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : `${bytes(n)}/s`;
}

/** Bits per second → "1.5 Gbit/s". */
export function bitRate(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toFixed(value >= 100 ? 0 : 1))} ${units[unit]}`;
}

/** 0.4231 → "42.3 %". */
export function percent(ratio: number | null | undefined, digits = 1): string {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(digits)} %`;
}

/** A plain number with up to 2 decimals. */
export function num(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : String(Number(n.toFixed(2)));
}

/** An amount in a resource unit: bytes, bits/s, cores, MHz or a count. */
export function amount(n: number, unit: string): string {
  switch (unit) {
    case 'BYTES':
      return bytes(n);
    case 'BITS_PER_SECOND':
      return bitRate(n);
    case 'CORES':
      return `${num(n)} cores`;
    case 'MHZ':
      return `${num(n)} MHz`;
    default:
      return num(n);
  }
}

/** An ISO time → "12 s ago" / "3 min ago" / a date. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

/** A future ISO time → "in 12 s" / "in 3 min" / "in 2 h" / a date; past ones as `ago`. */
export function until(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (seconds < 0) return ago(iso, now);
  if (seconds < 5) return 'now';
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `in ${Math.floor(seconds / 3600)} h`;
  return new Date(iso).toLocaleString();
}

/** Milliseconds → "850 ms" / "12.3 s" / "4 min 5 s". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** An ISO time → local date and time. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** The first 8 characters of an id, for tables (the whole id is in the title). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
