import { IsInt, IsOptional, Length, Max, Min } from 'class-validator';
import { GraphQLJSONObject } from '../common/bounded-json';
import { Arg, Ctx, Field, Float, ID, InputType, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { ShareEntity, ShareKind, UsagePolicyEntity, UsagePolicyMode } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Share, UsagePolicy } from './types';

/** A share to grant. */
@InputType()
class GrantShareInput {
  @Field(() => ID)
  hostId: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ShareKind)
  kind: ShareKind;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'CUSTOM only: quota per resource type.' })
  @IsOptional()
  quotas?: Record<string, number>;

  @Field(() => Int, { nullable: true, description: 'CUSTOM only: CPU weight 1–10000.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10000)
  cpuWeight?: number;
}

/** A usage policy to record. */
@InputType()
class UsagePolicyInput {
  @Field(() => ID)
  siteId: string;

  @Field()
  @Length(1, 100)
  name: string;

  @Field({ nullable: true })
  @IsOptional()
  text?: string;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  bandwidthBytesPerMonth?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  cpuHoursPerMonth?: number;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  diskBytes?: number;

  @Field(() => UsagePolicyMode, { nullable: true, description: 'How a group over the policy is held back in the site (default REFUSE).' })
  @IsOptional()
  mode?: UsagePolicyMode;
}

/** Shares and usage policies. */
@Resolver()
export class ShareResolver {
  @Query(() => [Share])
  shares(@Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ShareEntity[]> {
    return ctx.services.shares.list(actor, { hostId, groupId });
  }

  @Mutation(() => Share, { description: 'Grants a group a share of a host (site admins).' })
  grantShare(@Arg('input') input: GrantShareInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ShareEntity> {
    return ctx.services.shares.grant(actor, input);
  }

  @Mutation(() => Boolean, { description: 'Revokes a share (site admins).' })
  revokeShare(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.shares.revoke(actor, id);
  }

  @Query(() => [UsagePolicy])
  usagePolicies(@Arg('siteId', () => ID) siteId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<UsagePolicyEntity[]> {
    return ctx.services.shares.usagePolicies(actor, siteId);
  }

  @Mutation(() => UsagePolicy, { description: "Sets a usage policy of a site, replacing the site's policy of that name (site admins and the admins of the site's owner group)." })
  setUsagePolicy(@Arg('input') input: UsagePolicyInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<UsagePolicyEntity> {
    return ctx.services.shares.setUsagePolicy(actor, input);
  }
}
