import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { EnvironmentSample, HostSample } from './samples';

/**
 * This gateway's Prometheus registry (one per gateway, so several in one process stay apart):
 * GraphQL requests, errors, subscriptions, operations, dropped subscription events, and the
 * latest host and environment samples.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'rsp_graphql_requests_total', help: 'GraphQL requests over HTTP', labelNames: ['operation'] as const, registers: [this.registry] });
  readonly errors = new Counter({ name: 'rsp_graphql_errors_total', help: 'GraphQL requests that answered with errors', registers: [this.registry] });
  readonly subscriptions = new Gauge({ name: 'rsp_graphql_subscriptions', help: 'Subscriptions open now', labelNames: ['field'] as const, registers: [this.registry] });
  readonly dropped = new Counter({ name: 'rsp_subscription_events_dropped_total', help: 'Events dropped for slow subscribers (oldest first)', labelNames: ['field'] as const, registers: [this.registry] });
  readonly operations = new Counter({ name: 'rsp_operations_total', help: 'Operations that ended, by kind and state', labelNames: ['kind', 'state'] as const, registers: [this.registry] });
  readonly connections = new Gauge({ name: 'rsp_http_connections', help: 'Connections open now, by port (gateway, health)', labelNames: ['port'] as const, registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'rsp_http_connections_refused_total', help: 'Connections closed as they came, over a bound of the port (RSP_MAX_CONNECTIONS…): by port and bound (total, per_address)', labelNames: ['port', 'limit'] as const, registers: [this.registry] });
  readonly collectSeconds = new Gauge({ name: 'rsp_metrics_collect_seconds', help: 'Wall time of the last host sample', registers: [this.registry] });

  private readonly hostCpu = new Gauge({ name: 'rsp_host_cpu_usage_ratio', help: 'Host CPU use over the last interval (0-1), total and per core', labelNames: ['host', 'cpu'] as const, registers: [this.registry] });
  private readonly hostLoad = new Gauge({ name: 'rsp_host_load_average', help: 'Host load average', labelNames: ['host', 'period'] as const, registers: [this.registry] });
  private readonly hostMemory = new Gauge({ name: 'rsp_host_memory_bytes', help: 'Host memory and swap', labelNames: ['host', 'kind'] as const, registers: [this.registry] });
  private readonly hostDisk = new Gauge({ name: 'rsp_host_disk_io_bytes', help: 'Host block device I/O since boot', labelNames: ['host', 'device', 'direction'] as const, registers: [this.registry] });
  private readonly hostFs = new Gauge({ name: 'rsp_host_filesystem_bytes', help: 'Host filesystem space', labelNames: ['host', 'mountpoint', 'kind'] as const, registers: [this.registry] });
  private readonly hostNetBytes = new Gauge({ name: 'rsp_host_network_bytes', help: 'Host network bytes since boot', labelNames: ['host', 'interface', 'direction'] as const, registers: [this.registry] });
  private readonly hostNetPackets = new Gauge({ name: 'rsp_host_network_packets', help: 'Host network packets since boot', labelNames: ['host', 'interface', 'direction'] as const, registers: [this.registry] });
  private readonly envCpu = new Gauge({ name: 'rsp_environment_cpu_seconds', help: 'Environment CPU time used', labelNames: ['environment', 'group'] as const, registers: [this.registry] });
  private readonly envMemory = new Gauge({ name: 'rsp_environment_memory_bytes', help: 'Environment memory in use', labelNames: ['environment', 'group'] as const, registers: [this.registry] });
  private readonly envNet = new Gauge({ name: 'rsp_environment_network_bytes', help: 'Environment network bytes', labelNames: ['environment', 'group', 'direction'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rsp_' });
  }

  /** Sets the host gauges from a sample. */
  observeHost(s: HostSample): void {
    const host = s.hostId;
    this.hostCpu.set({ host, cpu: 'total' }, s.cpu.usage);
    s.cpu.cores.forEach((u, i) => this.hostCpu.set({ host, cpu: String(i) }, u));
    this.hostLoad.set({ host, period: '1m' }, s.load.one);
    this.hostLoad.set({ host, period: '5m' }, s.load.five);
    this.hostLoad.set({ host, period: '15m' }, s.load.fifteen);
    this.hostMemory.set({ host, kind: 'total' }, s.memory.totalBytes);
    this.hostMemory.set({ host, kind: 'used' }, s.memory.usedBytes);
    this.hostMemory.set({ host, kind: 'available' }, s.memory.availableBytes);
    this.hostMemory.set({ host, kind: 'swap_total' }, s.swap.totalBytes);
    this.hostMemory.set({ host, kind: 'swap_used' }, s.swap.usedBytes);
    for (const d of s.disks) {
      this.hostDisk.set({ host, device: d.device, direction: 'read' }, d.readBytes);
      this.hostDisk.set({ host, device: d.device, direction: 'write' }, d.writeBytes);
    }
    for (const f of s.filesystems) {
      this.hostFs.set({ host, mountpoint: f.mountPoint, kind: 'total' }, f.totalBytes);
      this.hostFs.set({ host, mountpoint: f.mountPoint, kind: 'used' }, f.usedBytes);
    }
    for (const n of s.networks) {
      this.hostNetBytes.set({ host, interface: n.interface, direction: 'rx' }, n.rxBytes);
      this.hostNetBytes.set({ host, interface: n.interface, direction: 'tx' }, n.txBytes);
      this.hostNetPackets.set({ host, interface: n.interface, direction: 'rx' }, n.rxPackets);
      this.hostNetPackets.set({ host, interface: n.interface, direction: 'tx' }, n.txPackets);
    }
  }

  /** Sets the environment gauges from a sample. */
  observeEnvironment(s: EnvironmentSample): void {
    const labels = { environment: s.environmentId, group: s.groupId };
    this.envCpu.set(labels, s.cpuSeconds);
    this.envMemory.set(labels, s.memoryBytes);
    this.envNet.set({ ...labels, direction: 'rx' }, s.networkRxBytes);
    this.envNet.set({ ...labels, direction: 'tx' }, s.networkTxBytes);
  }

  /** Drops an environment's gauges (it stopped or went away). */
  forgetEnvironment(environmentId: string, groupId: string): void {
    const labels = { environment: environmentId, group: groupId };
    this.envCpu.remove(labels);
    this.envMemory.remove(labels);
    this.envNet.remove({ ...labels, direction: 'rx' });
    this.envNet.remove({ ...labels, direction: 'tx' });
  }

  /** The text exposition format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
