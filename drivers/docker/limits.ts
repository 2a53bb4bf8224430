import type { HostConfig } from 'dockerode';
import type { LimitName, ResourceLimits } from '../contract';

/**
 * RSP limits ↔ Docker's HostConfig. Enforced: CPU weight (`CpuShares`, 100 ↔ 1024), CPU quota
 * (`NanoCpus`), memory (`Memory`) and processes (`PidsLimit`). Disk size is not enforced by this
 * driver (overlay2 quotas need xfs project quotas), so asking for it is UNSUPPORTED_OPERATION.
 * Network bandwidth is not a HostConfig field: the driver adds it (`tc` on the container's veth,
 * see shaping.ts) when the engine is on this machine.
 */
export const ENFORCED_LIMITS: readonly LimitName[] = ['cpuWeight', 'cpuQuota', 'memoryBytes', 'pids'];

/** Docker's default CPU shares, matching RSP's default weight 100. */
const SHARES_PER_WEIGHT = 1024 / 100;

/** The HostConfig fields that apply `limits`. */
export function limitsToHostConfig(limits: ResourceLimits | undefined): Partial<HostConfig> {
  const host: Partial<HostConfig> = {};
  if (!limits) return host;
  if (limits.cpuWeight !== undefined) host.CpuShares = Math.max(2, Math.round(limits.cpuWeight * SHARES_PER_WEIGHT));
  if (limits.cpuQuota !== undefined) host.NanoCpus = Math.round(limits.cpuQuota * 1e9);
  if (limits.memoryBytes !== undefined) host.Memory = Math.round(limits.memoryBytes);
  if (limits.pids !== undefined) host.PidsLimit = Math.round(limits.pids);
  return host;
}

/** The limits the engine reports as applied. */
export function limitsFromHostConfig(host: Partial<HostConfig> | undefined): ResourceLimits {
  const limits: ResourceLimits = {};
  if (!host) return limits;
  if (host.CpuShares) limits.cpuWeight = Math.round(host.CpuShares / SHARES_PER_WEIGHT);
  if (host.NanoCpus) limits.cpuQuota = host.NanoCpus / 1e9;
  if (host.Memory) limits.memoryBytes = host.Memory;
  if (host.PidsLimit && host.PidsLimit > 0) limits.pids = host.PidsLimit;
  return limits;
}
