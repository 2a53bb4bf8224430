import type { ResourceUnit } from '../api/queries';

/** How the forms ask for an amount of a resource type: its unit, the factor from what people type, and the words for it. */
export interface AmountUnit {
  unit: ResourceUnit;
  factor: number;
  label: string;
}

/** The resource types the forms offer, each asked in the unit people think in. */
export const AMOUNT_UNITS: Record<string, AmountUnit> = {
  CPU: { unit: 'CORES', factor: 1, label: 'cores' },
  RAM: { unit: 'BYTES', factor: 2 ** 30, label: 'GiB' },
  DISK: { unit: 'BYTES', factor: 2 ** 30, label: 'GiB' },
  NET_BANDWIDTH: { unit: 'BITS_PER_SECOND', factor: 1e6, label: 'Mbit/s' },
};

/** The amount typed in a form for `type`, in the API's unit. */
export function typedAmount(type: string, value: string): { amount: number; unit: ResourceUnit } {
  const u = AMOUNT_UNITS[type] ?? { unit: 'COUNT' as ResourceUnit, factor: 1, label: '' };
  return { amount: Number(value) * u.factor, unit: u.unit };
}

/** A comma-separated list typed in a form, trimmed, without empty items. */
export function typedList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
