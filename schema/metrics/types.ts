import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AlertComparison, AlertState } from '../../gateway/persistence/entities';
import { droppedOf } from '../events/dropped';

/** What a metric series or alert rule is about. */
export enum MetricTargetType {
  HOST = 'HOST',
  ENVIRONMENT = 'ENVIRONMENT',
  SITE = 'SITE',
}

registerEnumType(MetricTargetType, { name: 'MetricTargetType', description: 'What a metric series or alert rule is about.' });
registerEnumType(AlertComparison, { name: 'AlertComparison', description: 'Whether a rule fires above or below its threshold.' });
registerEnumType(AlertState, { name: 'AlertState', description: 'Where an alert is.' });

/** CPU use over the last interval. */
@ObjectType({ description: 'CPU use over the last interval, 0–1: the whole machine and each core.' })
export class CpuMetrics {
  @Field(() => Float)
  usage: number;

  @Field(() => [Float])
  cores: number[];
}

/** Load averages. */
@ObjectType({ description: 'Load averages over 1, 5 and 15 minutes.' })
export class LoadAverage {
  @Field(() => Float)
  one: number;

  @Field(() => Float)
  five: number;

  @Field(() => Float)
  fifteen: number;
}

/** Memory in bytes. */
@ObjectType({ description: 'Memory in bytes (used = total − available).' })
export class MemoryMetrics {
  @Field(() => Float)
  totalBytes: number;

  @Field(() => Float)
  usedBytes: number;

  @Field(() => Float)
  availableBytes: number;
}

/** Swap in bytes. */
@ObjectType({ description: 'Swap in bytes.' })
export class SwapMetrics {
  @Field(() => Float)
  totalBytes: number;

  @Field(() => Float)
  usedBytes: number;
}

/** One block device's I/O. */
@ObjectType({ description: "A block device's I/O: bytes since boot and the rate over the last interval." })
export class DiskMetrics {
  @Field()
  device: string;

  @Field(() => Float)
  readBytes: number;

  @Field(() => Float)
  writeBytes: number;

  @Field(() => Float)
  readBytesPerSecond: number;

  @Field(() => Float)
  writeBytesPerSecond: number;
}

/** One filesystem's space. */
@ObjectType({ description: "A mounted filesystem's space." })
export class FilesystemMetrics {
  @Field()
  device: string;

  @Field()
  mountPoint: string;

  @Field(() => Float)
  totalBytes: number;

  @Field(() => Float)
  usedBytes: number;
}

/** One network interface's traffic. */
@ObjectType({ description: "A network interface's traffic: counters since boot and byte rates over the last interval." })
export class NetworkMetrics {
  @Field()
  interface: string;

  @Field(() => Float)
  rxBytes: number;

  @Field(() => Float)
  txBytes: number;

  @Field(() => Float)
  rxPackets: number;

  @Field(() => Float)
  txPackets: number;

  @Field(() => Float)
  rxBytesPerSecond: number;

  @Field(() => Float)
  txBytesPerSecond: number;
}

/** A live host sample. */
@ObjectType({ description: "A live sample of a host, taken by the host's own agent from its machine's /proc and /sys." })
export class HostMetrics {
  @Field(() => ID)
  hostId: string;

  @Field(() => ID)
  siteId: string;

  @Field({ description: "When it was taken (the agent's clock)." })
  at: Date;

  @Field({ description: 'The gateway instance that published it.' })
  source: string;

  @Field({ description: 'The host agent that measured it, on the host\'s own machine.' })
  agent: string;

  @Field(() => CpuMetrics)
  cpu: CpuMetrics;

  @Field(() => LoadAverage)
  load: LoadAverage;

  @Field(() => MemoryMetrics)
  memory: MemoryMetrics;

  @Field(() => SwapMetrics)
  swap: SwapMetrics;

  @Field(() => [DiskMetrics])
  disks: DiskMetrics[];

  @Field(() => [FilesystemMetrics])
  filesystems: FilesystemMetrics[];

  @Field(() => [NetworkMetrics])
  networks: NetworkMetrics[];

  @Field(() => Int, { description: 'Events dropped so far for this subscriber because it read too slowly.' })
  dropped(): number {
    return droppedOf(this);
  }
}

/** A live environment sample. */
@ObjectType({ description: "A live sample of an environment, from its driver's stats." })
export class EnvironmentMetrics {
  @Field(() => ID)
  environmentId: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID)
  hostId: string;

  @Field()
  at: Date;

  @Field()
  source: string;

  @Field(() => Float, { description: 'CPU time used, seconds (cumulative).' })
  cpuSeconds: number;

  @Field(() => Float, { description: 'Cores busy over the last interval (1 = one full core).' })
  cpuUsage: number;

  @Field(() => Float)
  memoryBytes: number;

  @Field(() => Float, { nullable: true })
  memoryLimitBytes: number | null;

  @Field(() => Float)
  diskReadBytes: number;

  @Field(() => Float)
  diskWriteBytes: number;

  @Field(() => Float)
  networkRxBytes: number;

  @Field(() => Float)
  networkTxBytes: number;

  @Field(() => Float)
  networkRxBytesPerSecond: number;

  @Field(() => Float)
  networkTxBytesPerSecond: number;

  @Field(() => Int, { nullable: true })
  pids: number | null;

  @Field(() => Int, { description: 'Events dropped so far for this subscriber because it read too slowly.' })
  dropped(): number {
    return droppedOf(this);
  }
}

/** A live site aggregate. */
@ObjectType({ description: "A site's hosts and environments added up for one interval." })
export class SiteMetrics {
  @Field(() => ID)
  siteId: string;

  @Field()
  at: Date;

  @Field()
  source: string;

  @Field(() => Int)
  hosts: number;

  @Field(() => Int)
  environments: number;

  @Field(() => Float, { description: 'CPU use of all hosts, weighted by their cores, 0–1.' })
  cpuUsage: number;

  @Field(() => Float)
  memoryTotalBytes: number;

  @Field(() => Float)
  memoryUsedBytes: number;

  @Field(() => Float)
  networkRxBytesPerSecond: number;

  @Field(() => Float)
  networkTxBytesPerSecond: number;

  @Field(() => Int, { description: 'Events dropped so far for this subscriber because it read too slowly.' })
  dropped(): number {
    return droppedOf(this);
  }
}

/** One point of a series. */
@ObjectType({ description: 'One point of a metric series: the average over [at, at + step).' })
export class MetricPoint {
  @Field()
  at: Date;

  @Field(() => Float)
  value: number;
}

/** A stored metric series. */
@ObjectType({ description: 'A metric of a host, environment or site over a range.' })
export class MetricSeries {
  @Field(() => MetricTargetType)
  targetType: MetricTargetType;

  @Field(() => ID)
  targetId: string;

  @Field()
  metric: string;

  @Field(() => Int, { description: 'The stored resolution read (1, 60 or 3600 s).' })
  resolutionSeconds: number;

  @Field(() => Int)
  stepSeconds: number;

  @Field(() => [MetricPoint])
  points: MetricPoint[];
}

/** An alert rule. */
@ObjectType({ description: "An alert rule: a metric crossing a threshold for a duration, for a group's environments or a site." })
export class AlertRule {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => ID, { nullable: true })
  groupId: string | null;

  @Field(() => ID, { nullable: true })
  siteId: string | null;

  @Field(() => MetricTargetType)
  targetType: MetricTargetType;

  @Field(() => ID, { nullable: true, description: 'One target, or null for every target in scope.' })
  targetId: string | null;

  @Field()
  metric: string;

  @Field(() => AlertComparison)
  comparison: AlertComparison;

  @Field(() => Float)
  threshold: number;

  @Field(() => Int)
  durationSeconds: number;

  @Field()
  createdAt: Date;
}

/** A fired alert. */
@ObjectType({ description: 'An alert fired by a rule or by a usage policy exceeded.' })
export class Alert {
  @Field(() => ID)
  id: string;

  @Field(() => ID, { nullable: true, description: 'The rule, or null for a usage-policy alert.' })
  ruleId: string | null;

  @Field(() => ID, { nullable: true })
  groupId: string | null;

  @Field(() => ID, { nullable: true })
  siteId: string | null;

  @Field({ description: 'HOST, ENVIRONMENT, SITE or GROUP (usage).' })
  targetType: string;

  @Field(() => ID)
  targetId: string;

  @Field()
  metric: string;

  @Field(() => Float)
  value: number;

  @Field(() => Float)
  threshold: number;

  @Field(() => AlertState)
  state: AlertState;

  @Field()
  message: string;

  @Field({ nullable: true })
  firedAt?: Date;

  @Field(() => Date, { nullable: true })
  resolvedAt?: Date | null;
}

/** A group's usage in a site for a month. */
@ObjectType({ description: "What a group used in a site in one month, over all its hosts' shares." })
export class GroupUsage {
  @Field(() => ID)
  groupId: string;

  @Field(() => ID)
  siteId: string;

  @Field()
  month: string;

  @Field(() => Float)
  cpuSeconds: number;

  @Field(() => Float)
  cpuHours(): number {
    return (this as unknown as { cpuSeconds: number }).cpuSeconds / 3600;
  }

  @Field(() => Float, { description: 'Bytes received plus sent.' })
  networkBytes: number;

  @Field(() => Float, { description: 'Sum over hosts of the most memory held at once on each.' })
  peakMemoryBytes: number;

  @Field(() => Float, { description: "Disk the group's environments take on the site's hosts (filesystems and volumes), as last measured." })
  diskBytes: number;
}
