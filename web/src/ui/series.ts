/** Metric series as the charts take them: plain data, no DOM, so it is unit tested. */

/** A point of a stored series: its time (ISO) and value. */
export interface SeriesPoint {
  at: string;
  value: number;
}

/**
 * Several series' points on one time axis, oldest first: `times` in ms since the epoch, and per
 * series a value at each time (null where that series has no point then, drawn as a gap).
 */
export function align(series: SeriesPoint[][]): { times: number[]; values: Array<Array<number | null>> } {
  const times = [...new Set(series.flatMap((s) => s.map((p) => Date.parse(p.at))))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const values = series.map((s) => {
    const out: Array<number | null> = times.map(() => null);
    for (const p of s) out[index.get(Date.parse(p.at))!] = p.value;
    return out;
  });
  return { times, values };
}
