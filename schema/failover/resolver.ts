import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { OperationEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Operation } from '../operations/types';

/** Moving environments between hosts: migration (shuffle) and failover by hand. */
@Resolver()
export class FailoverResolver {
  @Mutation(() => Operation, {
    description:
      'Moves an environment to another host keeping its identity and data (seed 004 shuffle): replicate while it runs, stop, replicate the last changes, restore and start on the target (the scheduler chooses it unless hostId is given), remove it from the source. The result has the downtime (downtimeMs); on failure it runs on the source again.',
  })
  migrateEnvironment(@Arg('id', () => ID) id: string, @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.migration.migrate(actor, id, hostId ?? undefined);
  }

  @Mutation(() => Operation, { description: 'Site admins: restores an environment of a DOWN host from its newest replica on another host (hostId, or the scheduler\'s choice) and starts it if it ran — what automatic failover does for policies with autoFailover.' })
  failoverEnvironment(@Arg('id', () => ID) id: string, @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.failover.failoverEnvironment(actor, id, hostId ?? undefined);
  }
}
