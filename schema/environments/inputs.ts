import { ArrayMaxSize, IsIn, IsInt, IsOptional, Length, Max, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { GraphQLJSONObject } from 'graphql-scalars';
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

  @Field({ nullable: true, description: 'none (loopback only) or bridge.' })
  @IsOptional()
  @IsIn(['none', 'bridge'])
  network?: 'none' | 'bridge';

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
