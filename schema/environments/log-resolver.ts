import { Arg, Ctx, ID, Int, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { FollowedLog } from '../../gateway/environments';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { EnvironmentLog } from './types';

/** The subscribe side of a subscription: the resolver data type-graphql passes. */
type SubscribeData<A> = { args: A; context: GatewayContext };

/** Environments' console/stdout logs, read and followed (whoever may see the environment). */
@Resolver()
export class EnvironmentLogResolver {
  @Query(() => EnvironmentLog, { description: "An environment's console/stdout log: the last `tail` lines, those since `since`, or what follows `cursor`; all of it (up to a few MiB) by default." })
  async environmentLogs(
    @Arg('id', () => ID) id: string,
    @Arg('tail', () => Int, { nullable: true }) tail: number | undefined,
    @Arg('since', () => Date, { nullable: true, description: 'UNSUPPORTED_OPERATION for drivers whose console log keeps no times (LXC, libvirt).' }) since: Date | undefined,
    @Arg('cursor', () => String, { nullable: true }) cursor: string | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<EnvironmentLog> {
    const read = await ctx.services.environments.readLog(actor, id, { tail: tail ?? undefined, since: since ?? undefined, cursor: cursor ?? undefined });
    return { environmentId: id, ...read };
  }

  @Subscription(() => EnvironmentLog, {
    subscribe: ({ args, context }: SubscribeData<{ environmentId: string; tail?: number | null; cursor?: string | null }>) =>
      context.services.environments.followLog(context.actor, args.environmentId, { tail: args.tail ?? undefined, cursor: args.cursor ?? undefined }),
    description: "Follows an environment's log: first its last `tail` lines (default 100) or what follows `cursor`, then new text as it is written. Ends with NOT_FOUND once it is destroyed or out of the caller's sight.",
  })
  environmentLog(
    @Root() part: FollowedLog,
    @Arg('environmentId', () => ID) environmentId: string,
    @Arg('tail', () => Int, { nullable: true }) _tail: number | undefined,
    @Arg('cursor', () => String, { nullable: true }) _cursor: string | undefined,
  ): EnvironmentLog {
    // The follow's last word when it ended (destroyed, out of sight): told as this result's error.
    if (!part.read) throw part.error;
    return { environmentId, ...part.read };
  }
}
