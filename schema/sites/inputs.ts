import { ArrayMaxSize, IsInt, IsOptional, Length, Matches, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { ArgsType, Field, Float, ID, InputType, Int } from 'type-graphql';
import { HostState, PlacementPolicy } from '../../gateway/persistence/entities';
import { PageArgs } from '../common/connection';
import { LayerPropertyInput } from '../layers/inputs';

/** A new site. */
@InputType()
export class CreateSiteInput {
  @Field()
  @Length(1, 100)
  name: string;

  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 300)
  location?: string;

  @Field(() => ID)
  ownerGroupId: string;

  @Field(() => PlacementPolicy, { nullable: true })
  @IsOptional()
  placementPolicy?: PlacementPolicy;
}

/** A new host. */
@InputType()
export class CreateHostInput {
  @Field(() => ID)
  siteId: string;

  @Field(() => ID)
  ownerGroupId: string;

  @Field()
  @Matches(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, { message: 'hostname must be a valid DNS name' })
  @Length(1, 253)
  hostname: string;

  @Field({ nullable: true })
  @IsOptional()
  @Matches(/^[a-z0-9_]{1,30}$/)
  arch?: string;

  @Field(() => [String], { nullable: true, description: "The technologies placement may offer on it, in order of preference: a narrowing of what its agent's probe found (one the agent cannot run is refused). Omitted: everything probed. Taken as declared while the agent never reported." })
  @IsOptional()
  @ArrayMaxSize(20)
  @Matches(/^[a-z][a-z0-9-]{0,29}$/, { each: true, message: 'drivers are technology names like docker, lxc' })
  drivers?: string[];

  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  shareUnits?: number;

  @Field({ nullable: true, description: 'The host agent that runs its drivers: `local` (default) is the gateway\'s own; others are named by RSP_AGENTS.' })
  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9-]{0,31}$/, { message: 'agent is an agent id: a-z, 0-9 and -, at most 32' })
  agent?: string;

  @Field({ nullable: true, description: "The IPv4 range (CIDR, prefix 8–29) its environments' addresses come from, e.g. 10.42.0.0/24: its first address is the host's side of the network. Default: a /24 of 10.128.0.0/9 picked from the host's id." })
  @IsOptional()
  @Length(9, 18)
  addressRange?: string;

  @Field({ nullable: true, description: "The IPv6 /64 its environments' IPv6 addresses come from (beside their IPv4 ones, the same index in it), e.g. fd12:3456:789a::/64, or auto: a unique local /64 picked at random (RFC 4193). Default: none (IPv4 only). Its kernel must have IPv6 on." })
  @IsOptional()
  @Length(4, 43)
  ipv6Range?: string;

  @Field({ nullable: true, description: "Fill its resources (CPU, RAM, DISK, NET_BANDWIDTH) from its agent's facts and keep their totals up to date (default false: resources are typed by hand). A resource typed by hand is never touched." })
  @IsOptional()
  inventoryFromFacts?: boolean;

  @Field(() => [LayerPropertyInput], { nullable: true, description: 'Extra properties of its MACHINE layer, e.g. diskEncryption.' })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => LayerPropertyInput)
  properties?: LayerPropertyInput[];
}

/** Host discovery filters. */
@ArgsType()
export class HostListArgs extends PageArgs {
  @Field(() => ID, { nullable: true })
  siteId?: string;

  @Field({ nullable: true })
  technology?: string;

  @Field(() => HostState, { nullable: true })
  state?: HostState;

  @Field({ nullable: true, description: 'With at least minFreeAmount free of this resource type.' })
  minFreeType?: string;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  @Min(0)
  minFreeAmount?: number;
}

/** A site admin's narrowing of a host's technologies. */
@ArgsType()
export class SetHostDriversArgs {
  @Field(() => ID)
  id: string;

  @Field(() => [String], { nullable: true, description: "The technologies placement may offer on the host, in order of preference, among those its agent's probe found; null: all of them." })
  @IsOptional()
  @ArrayMaxSize(20)
  @Matches(/^[a-z][a-z0-9-]{0,29}$/, { each: true, message: 'drivers are technology names like docker, lxc' })
  drivers?: string[] | null;
}
