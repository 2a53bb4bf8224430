import { Arg, Ctx, ID, Int, Mutation, Resolver } from 'type-graphql';
import type { IssuedJoinToken } from '../../gateway/auth/agent-credential-service';
import type { GatewayContext } from '../../gateway/context';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { AgentJoinToken } from './types';

/** Enrollment of host agents on other machines (site admins). */
@Resolver()
export class AgentResolver {
  @Mutation(() => AgentJoinToken, {
    description: "Creates a one-time join token for a host agent, valid ttlSeconds (default one hour). Site admins; with hostId, the admins of the group owning that host (or its site), for its agent.",
  })
  createAgentJoinToken(
    @Arg('agentId') agentId: string,
    @Arg('ttlSeconds', () => Int, { defaultValue: 3600 }) ttlSeconds: number,
    @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<IssuedJoinToken> {
    return ctx.services.agentCredentials.createJoinToken(actor, agentId, ttlSeconds, hostId ?? undefined);
  }

  @Mutation(() => Int, { description: "Revokes a host agent's credential and unused join tokens, and closes its connection; the number revoked. Site admins; with hostId, the admins governing that host, for its agent." })
  revokeAgentCredential(@Arg('agentId') agentId: string, @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<number> {
    return ctx.services.agentCredentials.revokeCredential(actor, agentId, hostId ?? undefined);
  }
}
