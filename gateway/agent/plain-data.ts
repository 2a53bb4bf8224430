import type { EnvironmentInfo, EnvironmentStats, SnapshotInfo } from '../../drivers/contract';
import { RspError } from '../errors';
import type { EnvironmentInfoData, EnvironmentStatsData, SnapshotData } from './protocol';

/** A driver's `EnvironmentInfo` as plain data (`startedAt` as ISO 8601). */
export function infoData(info: EnvironmentInfo): EnvironmentInfoData {
  const { startedAt, ...rest } = info;
  return { ...rest, ...(startedAt ? { startedAt: toIso(startedAt) } : {}) };
}

/** A driver's `SnapshotInfo` as plain data (`createdAt` as ISO 8601). */
export function snapshotData(snapshot: SnapshotInfo): SnapshotData {
  return { name: snapshot.name, createdAt: toIso(snapshot.createdAt) };
}

/** A driver's `EnvironmentStats` as plain data (`at` as ISO 8601). */
export function statsData(stats: EnvironmentStats): EnvironmentStatsData {
  const { at, ...rest } = stats;
  return { ...rest, at: toIso(at ?? new Date()) };
}

/**
 * Throws INTERNAL naming the first value in `value` that JSON would not carry as it is: a Date,
 * a Buffer or typed array, a stream, a function, a Map or any other class instance, a symbol, a
 * bigint, a non-finite number, or `undefined` in an array. The loopback checks every frame with it,
 * so nothing unserialisable can creep into the agent contract.
 */
export function assertPlainData(value: unknown, path = '$'): void {
  const fail = (what: string): never => {
    throw new RspError('INTERNAL', `Not plain data at ${path}: ${what} cannot cross the host-agent boundary`, { path, what });
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(`the number ${value}`);
      return;
    case 'undefined':
      return;
    case 'object':
      break;
    default:
      fail(`a ${typeof value}`);
  }
  if (value === null) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) fail(`undefined at index ${i}`);
      assertPlainData(item, `${path}[${i}]`);
    });
    return;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) fail(`an instance of ${(value as object).constructor?.name ?? 'a class'}`);
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) assertPlainData(item, `${path}.${key}`);
}

function toIso(at: Date | string): string {
  return at instanceof Date ? at.toISOString() : new Date(at).toISOString();
}
