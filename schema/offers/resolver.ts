import { IsOptional, IsPositive, Length, Matches, Min } from 'class-validator';
import { Arg, Ctx, Field, Float, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { Exchange as ExchangeResult, SatisfiableNeed as Satisfiable } from '../../gateway/services/offer-service';
import { ExchangeStatus, NeedEntity, OfferEntity, ResourceUnit } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Exchange, Need, Offer, SatisfiableNeed } from './types';

/** An amount of a resource type on behalf of a group: what offers and needs have in common. */
@InputType()
class GroupAmountInput {
  @Field(() => ID)
  groupId: string;

  @Field()
  @Matches(/^[A-Z][A-Z0-9_]{0,49}$/, { message: 'resourceType must be UPPER_CASE' })
  resourceType: string;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;

  @Field(() => Float)
  @Min(0)
  amount: number;
}

/** A new offer. */
@InputType()
class PublishOfferInput extends GroupAmountInput {
  @Field(() => ID, { nullable: true, description: 'On this host (owned by the group); without one, some host of the group must be able to take it.' })
  @IsOptional()
  hostId?: string;

  @Field(() => [String], { nullable: true, description: 'Technologies the offer is for; each must run on the host.' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9-]{0,29}$/, { each: true, message: 'technologies are names like docker, lxc' })
  technologies?: string[];

  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 2000)
  terms?: string;
}

/** A new need. */
@InputType()
class PublishNeedInput extends GroupAmountInput {
  @Field(() => [String], { nullable: true })
  @IsOptional()
  technologies?: string[];

  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 2000)
  description?: string;
}

/** An offer to accept. */
@InputType()
class AcceptOfferInput {
  @Field(() => ID)
  offerId: string;

  @Field(() => ID, { nullable: true, description: 'The need it covers (closed once covered); the receiving group is its group. Without one: the caller\'s group.' })
  @IsOptional()
  needId?: string;

  @Field(() => Float, { nullable: true, description: "How much of the offer (default: what the need still asks, capped by the offer; without a need, all that is left)." })
  @IsOptional()
  @IsPositive()
  amount?: number;
}

/** A need to grant. */
@InputType()
class GrantNeedInput {
  @Field(() => ID)
  needId: string;

  @Field(() => ID, { nullable: true, description: "The host to grant it from (its owner group's admins); default: the first of the caller's group's hosts that can." })
  @IsOptional()
  hostId?: string;
}

/** Offers and needs: who has what, who needs what, and the exchange that turns them into shares. */
@Resolver()
export class OfferResolver {
  @Query(() => [Offer])
  offers(
    @Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined,
    @Arg('status', () => ExchangeStatus, { nullable: true }) status: ExchangeStatus | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<OfferEntity[]> {
    return ctx.services.offers.listOffers(actor, groupId ?? undefined, status ?? undefined);
  }

  @Query(() => [Need])
  needs(
    @Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined,
    @Arg('status', () => ExchangeStatus, { nullable: true }) status: ExchangeStatus | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<NeedEntity[]> {
    return ctx.services.offers.listNeeds(actor, groupId ?? undefined, status ?? undefined);
  }

  @Query(() => [SatisfiableNeed], { description: "Open needs that open offers of other groups can each cover on a host running a technology the need accepts, with those offers." })
  satisfiableNeeds(@Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<Satisfiable[]> {
    return ctx.services.offers.satisfiableNeeds(actor);
  }

  @Mutation(() => Offer)
  publishOffer(@Arg('input') input: PublishOfferInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OfferEntity> {
    return ctx.services.offers.publishOffer(actor, input);
  }

  @Mutation(() => Need)
  publishNeed(@Arg('input') input: PublishNeedInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<NeedEntity> {
    return ctx.services.offers.publishNeed(actor, input);
  }

  @Mutation(() => Exchange, { description: "Accepts an offer of another group (ADMINs of the receiving group: the need's, or the caller's): it becomes a share of the offer's host." })
  acceptOffer(@Arg('input') input: AcceptOfferInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ExchangeResult> {
    return ctx.services.offers.acceptOffer(actor, input);
  }

  @Mutation(() => Exchange, { description: "Grants another group's need from a host (ADMINs of the host's owner group): all it asks becomes a share of that host." })
  grantNeed(@Arg('input') input: GrantNeedInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ExchangeResult> {
    return ctx.services.offers.grantNeed(actor, input);
  }

  @Mutation(() => Boolean)
  withdrawOffer(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.offers.withdraw(actor, 'offer', id);
  }

  @Mutation(() => Boolean)
  withdrawNeed(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.offers.withdraw(actor, 'need', id);
  }
}
