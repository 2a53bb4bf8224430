import { ArrayMaxSize, IsIn, IsInt, IsOptional, Length, Max, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { GraphQLJSONObject } from '../common/bounded-json';
import { ArgsType, Field, Float, ID, InputType, Int } from 'type-graphql';
import { EnvironmentStatus } from '../../gateway/persistence/entities';
import { PageArgs } from '../common/connection';

/** Resource limits asked for. */
@InputType()
export class LimitsInput {
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10000)
  cpuWeight?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0.01)
  cpuQuota?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(1)
  memoryBytes?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(1)
  diskBytes?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(1)
  networkBitsPerSecond?: number;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  pids?: number;
}

/** A volume of a new environment. */
@InputType()
export class VolumeInput {
  @Field()
  name: string;

  @Field({ defaultValue: 'data', description: 'config or data' })
  @IsIn(['config', 'data'])
  kind: 'config' | 'data';

  @Field()
  mountPath: string;

  @Field({ defaultValue: false })
  readOnly: boolean;
}

/** A host port to publish to a port of the environment. */
@InputType({ description: 'A port of the host published to a port of the environment: reachable from outside the host.' })
export class PortInput {
  @Field(() => Int, { description: 'On every address of the host; unique per host and protocol.' })
  @IsInt()
  @Min(1)
  @Max(65535)
  hostPort: number;

  @Field(() => Int, { description: 'Inside the environment.' })
  @IsInt()
  @Min(1)
  @Max(65535)
  port: number;

  @Field({ defaultValue: 'tcp', description: 'tcp or udp' })
  @IsIn(['tcp', 'udp'])
  protocol: 'tcp' | 'udp';
}

/** A new environment. */
@InputType()
export class CreateEnvironmentInput {
  @Field(() => ID)
  groupId: string;

  @Field(() => ID, { nullable: true, description: "The host; may be left out when allocationId is given (the allocation's host is used)." })
  @IsOptional()
  hostId?: string;

  @Field(() => ID, { nullable: true, description: "An active allocation of the group: the environment runs on its host, its limits come from (and must fit in) what it holds, and destroying the environment releases it." })
  @IsOptional()
  allocationId?: string;

  @Field({ description: 'A DNS label, unique in the group.' })
  @Length(1, 63)
  name: string;

  @Field(() => ID)
  imageId: string;

  @Field({ nullable: true, description: "Driver name; default: the host's first usable driver of the image's technology." })
  @IsOptional()
  driver?: string;

  @Field(() => LimitsInput, { nullable: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => LimitsInput)
  limits?: LimitsInput;

  @Field(() => [VolumeInput], { nullable: true })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => VolumeInput)
  volumes?: VolumeInput[];

  @Field({ nullable: true, description: 'Default: the name.' })
  @IsOptional()
  hostname?: string;

  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(3)
  dns?: string[];

  @Field({ nullable: true, description: "bridge: on its host's managed network with an address of the host's range (the default where the driver has managed networks), or none: loopback only." })
  @IsOptional()
  @IsIn(['none', 'bridge'])
  network?: 'none' | 'bridge';

  @Field(() => [PortInput], { nullable: true, description: 'Host ports published to it; a host port another environment of the host publishes is refused (CONFLICT).' })
  @IsOptional()
  @ArrayMaxSize(32)
  @ValidateNested({ each: true })
  @Type(() => PortInput)
  ports?: PortInput[];

  @Field({ nullable: true, description: 'A read-only root filesystem (volumes and a tmpfs on /tmp and /run stay writable); default: true where the driver can make one.' })
  @IsOptional()
  readOnlyRoot?: boolean;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'KEY: value config values for the image.' })
  @IsOptional()
  config?: Record<string, string>;

  @Field(() => [String], { nullable: true, description: "The main process; default: the image's." })
  @IsOptional()
  @ArrayMaxSize(256)
  command?: string[];
}

/** Environment list filters. */
@ArgsType()
export class EnvironmentListArgs extends PageArgs {
  @Field(() => ID, { nullable: true })
  hostId?: string;

  @Field(() => EnvironmentStatus, { nullable: true })
  status?: EnvironmentStatus;

  @Field({ defaultValue: false })
  includeDestroyed: boolean;

  @Field({ defaultValue: false, description: "Only other groups' environments on the hosts and sites the caller's group governs (its ADMINs)." })
  guests: boolean;
}
