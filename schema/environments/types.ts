import { GraphQLJSONObject } from '../common/bounded-json';
import { Directive, Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { EnvironmentStatus } from '../../gateway/persistence/entities';
import { Connection } from '../common/connection';
import { Operation } from '../operations/types';

registerEnumType(EnvironmentStatus, { name: 'EnvironmentStatus', description: 'Where an environment is in its life.' });

/** Resource limits, in fixed units. */
@ObjectType({ description: 'Resource limits: weights relative, CPU quota in CPUs, sizes in bytes, bandwidth in bits/s.' })
export class Limits {
  @Field(() => Int, { nullable: true, description: '1–10000; 100 is a full share, 50 a half.' })
  cpuWeight?: number;

  @Field(() => Float, { nullable: true })
  cpuQuota?: number;

  @Field(() => Float, { nullable: true })
  memoryBytes?: number;

  @Field(() => Float, { nullable: true })
  diskBytes?: number;

  @Field(() => Float, { nullable: true })
  networkBitsPerSecond?: number;

  @Field(() => Int, { nullable: true })
  pids?: number;
}

/** A volume kept outside the image. */
@ObjectType({ description: 'A config or data volume kept outside the image: it survives rebuilds.' })
export class Volume {
  @Field()
  name: string;

  @Field({ description: 'config or data' })
  kind: string;

  @Field()
  mountPath: string;

  @Field()
  readOnly: boolean;
}

/** A host port published to an environment. */
@ObjectType({ description: 'A port of the host published to a port of the environment.' })
export class PublishedPort {
  @Field(() => Int)
  hostPort: number;

  @Field(() => Int)
  port: number;

  @Field({ description: 'tcp or udp' })
  protocol: string;
}

/** An address of an environment. */
@ObjectType({ description: "An address an environment holds: assigned by RSP from its host's range, unique on the host while held." })
export class EnvironmentAddress {
  @Field({ description: 'Without prefix, e.g. 10.160.7.2.' })
  address: string;

  @Field(() => Int, { description: 'The prefix length of its network.' })
  prefix: number;

  @Field({ description: 'IPv4 or IPv6' })
  family: string;

  @Field({ description: "The network it is on: the host's managed network of the driver's engine." })
  interface: string;

  @Field({ description: "The host's address on that network." })
  gateway: string;
}

/** The seed-002 host↔image interface values. */
@ObjectType({ description: 'What every image can rely on: hostname, DNS, network, config values (env vars and /etc/rsp/config.env).' })
export class EnvironmentInterface {
  @Field()
  hostname: string;

  @Field(() => [String])
  dns: string[];

  @Field()
  network: string;

  @Field(() => GraphQLJSONObject)
  config: Record<string, string>;

  @Field(() => [PublishedPort], { description: 'Host ports published to it.' })
  ports: PublishedPort[];

  @Field({ description: 'Whether its root filesystem is read-only (volumes, /tmp and /run stay writable).' })
  readOnlyRoot: boolean;
}

/** What the owners of a guest's host did to it, and why (shown to the guest's group). */
@ObjectType({ description: "What the admins governing an environment's host did to it, and why: shown to its group." })
export class EnvironmentIntervention {
  @Field(() => ID, { nullable: true, description: 'The group governing the host that acted; null: a site admin without a group.' })
  byGroupId: string | null;

  @Field({ description: 'stop or evict' })
  action: string;

  @Field()
  reason: string;

  @Field()
  at: Date;
}

/** A virtual space on a host. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A virtual space (sliver) of one technology on one host: a ZONE layer on the host.' })
export class Environment {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID)
  hostId: string;

  @Field()
  driver: string;

  @Field()
  technology: string;

  @Field(() => ID, { nullable: true, description: 'Its image; null when the caller may not see that image.' })
  imageId: string | null;

  @Field(() => ID, { nullable: true, description: 'The allocation it runs on, released when it is destroyed.' })
  allocationId: string | null;

  @Field(() => EnvironmentStatus)
  status: EnvironmentStatus;

  @Field(() => String, { nullable: true, description: 'What the engine reports differently, found by reconciliation.' })
  drift: string | null;

  @Field(() => String, { nullable: true })
  lastError: string | null;

  @Field(() => Limits)
  limits: Limits;

  @Field(() => [Volume])
  volumes: Volume[];

  @Field(() => EnvironmentInterface)
  iface: EnvironmentInterface;

  @Field(() => [String], { nullable: true })
  command: string[] | null;

  @Field(() => ID, { nullable: true, description: 'Its ZONE layer.' })
  layerId: string | null;

  @Field(() => Int, { nullable: true, description: 'Snapshot retention: after each snapshot only the newest this many are kept; null: all.' })
  snapshotKeepLast: number | null;

  @Field()
  createdAt: Date;
}

/** A page of environments. */
@ObjectType()
export class EnvironmentConnection extends Connection(Environment) {}

/** A new environment and the operation creating it. */
@ObjectType()
export class EnvironmentCreation {
  @Field(() => Environment)
  environment: Environment;

  @Field(() => Operation, { description: 'Follow it with operationUpdated(id).' })
  operation: Operation;
}

/** Output of a command run in an environment. */
@ObjectType()
export class ExecResult {
  @Field(() => Int)
  exitCode: number;

  @Field()
  stdout: string;

  @Field()
  stderr: string;
}

/** Usage counters of an environment. */
@ObjectType({ description: 'Usage counters; cumulative since the environment started.' })
export class EnvironmentStats {
  @Field()
  at: Date;

  @Field(() => Float)
  cpuSeconds: number;

  @Field(() => Float)
  memoryBytes: number;

  @Field(() => Float, { nullable: true })
  memoryLimitBytes?: number;

  @Field(() => Float)
  diskReadBytes: number;

  @Field(() => Float)
  diskWriteBytes: number;

  @Field(() => Float)
  networkRxBytes: number;

  @Field(() => Float)
  networkTxBytes: number;

  @Field(() => Int, { nullable: true })
  pids?: number;
}

/** What a driver's probe found. */
@ObjectType({ description: "A driver of a host and what its probe found." })
export class DriverStatus {
  @Field()
  name: string;

  @Field()
  technology: string;

  @Field()
  available: boolean;

  @Field(() => String, { nullable: true })
  reason?: string;

  @Field(() => String, { nullable: true })
  version?: string;

  @Field(() => [String], { description: 'Optional operations it offers.' })
  operations: string[];

  @Field(() => [String], { description: 'Limits it enforces.' })
  limits: string[];

  @Field(() => [String], { description: 'Interface features it honours: managedNetwork (addresses assigned by RSP), publishedPorts, readOnlyRoot, ipv6 (IPv6 addresses from the host ipv6Range).' })
  features: string[];
  @Field(() => [String], { description: 'The formats of image bits it takes: rootfs-tar (a root filesystem as a tar archive, plain or compressed with gzip, bzip2, xz or zstd) for every built-in driver; a plugin may name its own (e.g. qcow2). An upload for its technology in none of them is refused (IMAGE_FORMAT).' })
  imageFormats: string[];
}

/** Part of an environment's console/stdout log. */
@ObjectType({ description: "Part of an environment's console/stdout log (Docker's log driver, LXC's console log, a VM's serial console)." })
export class EnvironmentLog {
  @Field(() => ID)
  environmentId: string;

  @Field({ description: 'The text, in order; whole lines except perhaps the last one written so far.' })
  text: string;

  @Field({ description: 'Pass it back as `cursor` to read only what was written after this part.' })
  cursor: string;
}
