// Amounts of resources as people read them (`11.8 GiB`, `5 Gbit/s`, `2 cores`): in the CLI's tables
// and in the gateway's refusals, whose details keep the exact figures.

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
