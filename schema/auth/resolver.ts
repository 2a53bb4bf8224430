import { Arg, Ctx, Field, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import { IsOptional, Length } from 'class-validator';
import type { IssuedToken as Issued } from '../../gateway/auth/token-service';
import type { GatewayContext } from '../../gateway/context';
import { ApiTokenEntity, MemberRole } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { ApiToken, IssuedToken, Viewer } from './types';

/** Fields of a new token. */
@InputType()
class CreateTokenInput {
  @Field(() => ID, { nullable: true, description: 'The group it acts for; omit with siteAdmin.' })
  @IsOptional()
  groupId?: string;

  @Field({ description: 'Who or what holds it.' })
  @Length(1, 100)
  name: string;

  @Field(() => MemberRole, { defaultValue: MemberRole.MEMBER })
  role: MemberRole;

  @Field({ defaultValue: false })
  siteAdmin: boolean;

  @Field(() => Date, { nullable: true })
  @IsOptional()
  expiresAt?: Date;
}

/** Tokens and the caller's identity. */
@Resolver()
export class AuthResolver {
  @Query(() => Viewer, { description: 'Who the caller is (works without a token).' })
  viewer(@Actor() actor: Principal): Viewer {
    return actor.kind === 'token'
      ? { authenticated: true, tokenId: actor.tokenId, name: actor.name, groupId: actor.groupId, role: actor.role, siteAdmin: actor.siteAdmin }
      : { authenticated: false, tokenId: null, name: null, groupId: null, role: null, siteAdmin: false };
  }

  @Query(() => [ApiToken], { description: "A group's tokens (its admins)." })
  tokens(@Arg('groupId', () => ID) groupId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ApiTokenEntity[]> {
    return ctx.services.tokens.listForGroup(actor, groupId);
  }

  @Mutation(() => IssuedToken, { description: 'Issues a token; the secret is shown once.' })
  createToken(@Arg('input') input: CreateTokenInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<Issued> {
    return ctx.services.tokens.create(actor, input);
  }

  @Mutation(() => ApiToken, { description: 'Revokes a token at once, and every token made through it, transitively. With keepMade (site admins only: rotating a site-admin token), the tokens it made stay, no longer anyone\'s.' })
  revokeToken(@Arg('id', () => ID) id: string, @Arg('keepMade', () => Boolean, { defaultValue: false }) keepMade: boolean, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ApiTokenEntity> {
    return ctx.services.tokens.revoke(actor, id, { keepMade });
  }
}
