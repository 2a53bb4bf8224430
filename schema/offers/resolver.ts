import { IsOptional, Length, Matches, Min } from 'class-validator';
import { Arg, Ctx, Field, Float, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { SatisfiableNeed as Satisfiable } from '../../gateway/services/offer-service';
import { NeedEntity, OfferEntity, ResourceUnit } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Need, Offer, SatisfiableNeed } from './types';

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
  @Field(() => ID, { nullable: true })
  @IsOptional()
  hostId?: string;

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

/** Offers and needs: who has what, who needs what. */
@Resolver()
export class OfferResolver {
  @Query(() => [Offer])
  offers(@Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OfferEntity[]> {
    return ctx.services.offers.listOffers(actor, groupId);
  }

  @Query(() => [Need])
  needs(@Arg('groupId', () => ID, { nullable: true }) groupId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<NeedEntity[]> {
    return ctx.services.offers.listNeeds(actor, groupId);
  }

  @Query(() => [SatisfiableNeed], { description: "Needs that other groups' current offers can cover." })
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

  @Mutation(() => Boolean)
  withdrawOffer(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.offers.withdraw(actor, 'offer', id);
  }

  @Mutation(() => Boolean)
  withdrawNeed(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.offers.withdraw(actor, 'need', id);
  }
}
