import { ago, amount, bitRate, bytes, byteRate, duration, percent, until } from '../../../web/src/ui/format';

describe("the dashboard's units", () => {
  test('bytes in IEC units, with fewer decimals as numbers grow', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1536)).toBe('1.50 KiB');
    expect(bytes(2 * 2 ** 30)).toBe('2.00 GiB');
    expect(bytes(30 * 2 ** 30)).toBe('30.0 GiB');
    expect(bytes(1000 * 2 ** 30)).toBe('1000 GiB');
    expect(bytes(-2048)).toBe('-2.00 KiB');
    expect(bytes(null)).toBe('—');
    expect(byteRate(1.5 * 2 ** 20)).toBe('1.50 MiB/s');
  });

  test('bit rates in SI units, percentages, resource amounts', () => {
    expect(bitRate(1.5e6)).toBe('1.5 Mbit/s');
    expect(bitRate(1e9)).toBe('1 Gbit/s');
    expect(percent(0.4231)).toBe('42.3 %');
    expect(percent(Number.NaN)).toBe('—');
    expect(amount(8, 'CORES')).toBe('8 cores');
    expect(amount(2 ** 30, 'BYTES')).toBe('1.00 GiB');
    expect(amount(1e9, 'BITS_PER_SECOND')).toBe('1 Gbit/s');
    expect(amount(3, 'COUNT')).toBe('3');
  });

  test('relative times', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(ago(null, now)).toBe('never');
    expect(ago('2026-01-01T11:59:58Z', now)).toBe('just now');
    expect(ago('2026-01-01T11:59:30Z', now)).toBe('30 s ago');
    expect(ago('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
    expect(ago('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
    expect(until(null, now)).toBe('—');
    expect(until('2026-01-01T12:00:02Z', now)).toBe('now');
    expect(until('2026-01-01T12:00:30Z', now)).toBe('in 30 s');
    expect(until('2026-01-01T12:05:00Z', now)).toBe('in 5 min');
    expect(until('2026-01-01T15:00:00Z', now)).toBe('in 3 h');
    expect(until('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
  });

  test('durations', () => {
    expect(duration(null)).toBe('—');
    expect(duration(850)).toBe('850 ms');
    expect(duration(12_340)).toBe('12.3 s');
    expect(duration(245_000)).toBe('4 min 5 s');
  });
});
