import type { EnvironmentStats, ResourceLimits } from '../contract';

/** Simulated CPU use of a running fake environment at full weight, in CPUs. */
const CPU_LOAD = 0.05;
/** Simulated network traffic of a running fake environment, bytes per second each way. */
const NETWORK_BYTES_PER_SECOND = 2048;
/** Memory a running fake environment uses before its files count. */
const BASE_MEMORY_BYTES = 8 * 1024 * 1024;

/**
 * Monotonic usage counters of one fake environment. CPU and network grow with the time spent
 * running, within the environment's limits (a CPU quota or a bandwidth cap slows them down);
 * disk counters grow with what its commands read and write.
 */
export class FakeCounters {
  private cpuSeconds = 0;
  private rxBytes = 0;
  private txBytes = 0;
  private readBytes = 0;
  private writtenBytes = 0;
  private runningSince?: number;

  /** The environment started running at `now` (ms). */
  started(now = Date.now()): void {
    this.runningSince = now;
  }

  /** The environment stopped at `now` (ms): the running time so far is accounted. */
  stopped(now = Date.now(), limits: ResourceLimits = {}): void {
    this.advance(now, limits);
    this.runningSince = undefined;
  }

  /** Counts disk traffic. */
  io(read: number, written: number): void {
    this.readBytes += read;
    this.writtenBytes += written;
  }

  /** A sample at `now` (ms). */
  sample(now: number, limits: ResourceLimits, usedBytes: number): EnvironmentStats {
    this.advance(now, limits);
    const running = this.runningSince !== undefined;
    const memory = running ? BASE_MEMORY_BYTES + usedBytes : 0;
    return {
      at: new Date(now),
      cpuSeconds: this.cpuSeconds,
      memoryBytes: limits.memoryBytes !== undefined ? Math.min(memory, limits.memoryBytes) : memory,
      memoryLimitBytes: limits.memoryBytes,
      diskReadBytes: this.readBytes,
      diskWriteBytes: this.writtenBytes,
      networkRxBytes: Math.floor(this.rxBytes),
      networkTxBytes: Math.floor(this.txBytes),
      pids: running ? 1 : 0,
    };
  }

  private advance(now: number, limits: ResourceLimits): void {
    if (this.runningSince === undefined) return;
    const seconds = Math.max(0, now - this.runningSince) / 1000;
    this.runningSince = Math.max(now, this.runningSince);
    const load = Math.min(CPU_LOAD * ((limits.cpuWeight ?? 100) / 100), limits.cpuQuota ?? Infinity);
    this.cpuSeconds += seconds * load;
    const rate = Math.min(NETWORK_BYTES_PER_SECOND, (limits.networkBitsPerSecond ?? Infinity) / 8);
    this.rxBytes += seconds * rate;
    this.txBytes += seconds * rate;
  }
}
