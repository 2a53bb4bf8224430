import type { EnvironmentInfo, EnvironmentSpec, EnvironmentState, ResourceLimits } from '../contract';
import type { FakeFilesystem } from './filesystem';
import type { FakeCounters } from './stats';

/** The label every environment RSP owns carries, with its id as value. */
export const ENVIRONMENT_LABEL = 'rsp.environment';

/** A snapshot of a fake environment: a copy of its root filesystem. */
export interface FakeSnapshot {
  createdAt: Date;
  files: Map<string, Buffer>;
}

/** One environment the fake engine holds. */
export interface FakeEnvironment {
  spec: EnvironmentSpec;
  handle: string;
  state: EnvironmentState;
  limits: ResourceLimits;
  labels: Record<string, string>;
  addresses: string[];
  fs: FakeFilesystem;
  counters: FakeCounters;
  logs: string[];
  snapshots: Map<string, FakeSnapshot>;
  startedAt?: Date;
}

/** An image the fake engine holds: the bytes it was given, and what they hold. */
export interface FakeImage {
  ref: string;
  name: string;
  version?: string;
  digest: string;
  bytes: Buffer;
  files: Map<string, Buffer>;
}

/** What `inspect` reports about a fake environment. */
export function toInfo(env: FakeEnvironment): EnvironmentInfo {
  return {
    id: env.spec.id,
    handle: env.handle,
    state: env.state,
    image: { ...env.spec.image },
    addresses: [...env.addresses],
    hostname: env.spec.iface.hostname,
    limits: { ...env.limits },
    labels: { ...env.labels },
    startedAt: env.startedAt,
  };
}

/** The files the standard host↔image interface puts in every environment (seed 002). */
export function interfaceFiles(spec: EnvironmentSpec, addresses: string[]): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  files.set('/etc/hostname', Buffer.from(`${spec.iface.hostname}\n`));
  files.set('/etc/hosts', Buffer.from(`127.0.0.1 localhost\n${addresses.map((a) => `${a} ${spec.iface.hostname}\n`).join('')}`));
  if (spec.iface.dns?.length) files.set('/etc/resolv.conf', Buffer.from(spec.iface.dns.map((d) => `nameserver ${d}\n`).join('')));
  files.set('/etc/rsp/config.env', Buffer.from(Object.entries(spec.iface.config ?? {}).map(([k, v]) => `${k}=${v}\n`).join('')));
  return files;
}
