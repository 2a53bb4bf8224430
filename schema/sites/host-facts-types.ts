import { Field, Float, Int, ObjectType } from 'type-graphql';
import type { HostFactsData } from '../../gateway/agent/host-facts';

/** One driver of a host as its agent's probe found it. */
@ObjectType({ description: "One driver of a host as its agent's probe found it." })
export class HostDriverFact {
  @Field()
  name: string;

  @Field()
  technology: string;

  @Field()
  available: boolean;

  @Field(() => String, { nullable: true, description: "The engine's version, when available." })
  version?: string;

  @Field(() => String, { nullable: true, description: 'Why it cannot be used, when unavailable.' })
  reason?: string;

  @Field(() => [String], { description: 'Its optional operations (exec, exportEnvironment…).' })
  operations: string[];

  @Field(() => [String], { description: 'The resource limits it enforces.' })
  limits: string[];
}

/** A filesystem of a host. */
@ObjectType({ description: 'A filesystem of a host, with its space in bytes.' })
export class HostFilesystemFact {
  @Field()
  device: string;

  @Field()
  mountPoint: string;

  @Field(() => Float)
  sizeBytes: number;

  @Field(() => Float)
  freeBytes: number;
}

/** The filesystem of a host agent's data directory. */
@ObjectType({ description: "The filesystem of the host agent's data directory (volumes, images, replicas): the DISK resource." })
export class HostDataDirFact {
  @Field()
  path: string;

  @Field(() => Float)
  sizeBytes: number;

  @Field(() => Float)
  freeBytes: number;
}

/** A network interface of a host. */
@ObjectType({ description: 'A network interface of a host.' })
export class HostInterfaceFact {
  @Field()
  name: string;

  @Field({ description: "Its hardware address ('' when it has none)." })
  mac: string;

  @Field(() => [String], { description: 'Its addresses in CIDR notation.' })
  addresses: string[];

  @Field({ description: 'Loopback and the like.' })
  internal: boolean;

  @Field(() => Float, { nullable: true, description: 'Link speed in bits per second; null when the kernel does not say.' })
  speedBitsPerSecond: number | null;
}

/** What a host's agent last reported of its machine. */
@ObjectType({ description: "What a host's agent last reported of its machine; its resources CPU, RAM, DISK and NET_BANDWIDTH are filled from it." })
export class HostFacts {
  @Field()
  hostname: string;

  @Field({ description: "The kernel's release." })
  kernel: string;

  @Field({ description: 'The CPU architecture as Node names it (x64, arm64…).' })
  arch: string;

  @Field()
  platform: string;

  @Field()
  cpuModel: string;

  @Field(() => Int, { description: 'Logical CPUs.' })
  cpus: number;

  @Field(() => Float)
  memoryBytes: number;

  @Field(() => HostDataDirFact)
  dataDir: HostDataDirFact;

  @Field(() => [HostFilesystemFact], { description: 'Every filesystem on a block device.' })
  filesystems: HostFilesystemFact[];

  @Field(() => [HostInterfaceFact])
  interfaces: HostInterfaceFact[];

  @Field(() => [HostDriverFact])
  drivers: HostDriverFact[];

  @Field(() => Date, { description: 'When the agent collected them.' })
  reportedAt: Date;

  /** The stored facts with `reportedAt` as a Date. */
  static of(data: HostFactsData): HostFacts {
    return Object.assign(new HostFacts(), data, { reportedAt: new Date(data.reportedAt) });
  }
}
