import { Arg, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { Orphan as OrphanView, OrphanRemoval } from '../../gateway/orphans';
import type { HostEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Host } from '../sites/types';
import { Orphan, RemoveOrphansResult } from './types';

/** Orphans of a host's engines: seen on the host, removed on request. */
@Resolver(() => Host)
export class OrphanResolver {
  @FieldResolver(() => [Orphan], { description: "Objects RSP made on its agent's engines that the database does not know, as last found when the agent connected (site admins, or admins of the host's owning groups)." })
  orphans(@Root() host: HostEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OrphanView[]> {
    return ctx.services.orphans.ofHost(actor, host);
  }

  @Mutation(() => RemoveOrphansResult, { description: "Looks again for the orphans of a host's agent and removes them through its drivers; returns what was removed and what failed, with the reasons (site admins, or admins of the host's owning groups)." })
  removeOrphans(@Arg('hostId', () => ID) hostId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OrphanRemoval> {
    return ctx.services.orphans.remove(actor, hostId);
  }
}
