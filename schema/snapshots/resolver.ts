import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { EnvironmentEntity, EnvironmentSnapshotEntity, OperationEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Environment } from '../environments/types';
import { Operation } from '../operations/types';
import { EnvironmentSnapshot } from './types';

/** Environments' snapshots: each change is an Operation, like other environment operations. */
@Resolver(() => Environment)
export class EnvironmentSnapshotResolver {
  @FieldResolver(() => [EnvironmentSnapshot], { description: "Its snapshots, oldest first (the admins governing its host see who took each only as its group)." })
  snapshots(@Root() env: EnvironmentEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<EnvironmentSnapshotEntity[]> {
    return ctx.services.snapshots.seenBy(actor, env);
  }

  @Mutation(() => Operation, {
    description: 'Takes a snapshot of the environment (members of its group); follow the operation. Its retention then deletes the oldest beyond keepLast. UNSUPPORTED_OPERATION for a driver without snapshots; CONFLICT for a name it has.',
  })
  createSnapshot(@Arg('environmentId', () => ID) environmentId: string, @Arg('name') name: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.snapshots.create(actor, environmentId, name);
  }

  @Mutation(() => Operation, { description: 'Rolls the environment back to a snapshot: what was written since is gone (a running environment runs again afterwards); the snapshot stays.' })
  rollbackSnapshot(@Arg('environmentId', () => ID) environmentId: string, @Arg('name') name: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.snapshots.rollback(actor, environmentId, name);
  }

  @Mutation(() => Operation, { description: 'Deletes a snapshot and frees the disk it holds.' })
  deleteSnapshot(@Arg('environmentId', () => ID) environmentId: string, @Arg('name') name: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.snapshots.delete(actor, environmentId, name);
  }

  @Mutation(() => Environment, { description: 'Sets how many snapshots the environment keeps (1–1000; null: all), applied after each new snapshot.' })
  setSnapshotRetention(
    @Arg('environmentId', () => ID) environmentId: string,
    @Arg('keepLast', () => Int, { nullable: true }) keepLast: number | null | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<EnvironmentEntity> {
    return ctx.services.snapshots.setRetention(actor, environmentId, keepLast ?? null);
  }
}
