import { Arg, Args, ArgsType, Ctx, Field, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { Topic } from '../../gateway/events/pubsub';
import { OperationEntity, OperationState } from '../../gateway/persistence/entities';
import { offsetFromCursor, PageArgs, toConnection } from '../common/connection';
import { Operation, OperationConnection } from './types';

/** Filters of the `operations` list. */
@ArgsType()
class OperationListArgs extends PageArgs {
  @Field(() => OperationState, { nullable: true })
  state?: OperationState;

  @Field({ nullable: true })
  targetType?: string;

  @Field({ nullable: true })
  targetId?: string;
}

/** Queries, mutations and subscriptions of operations. */
@Resolver(() => Operation)
export class OperationResolver {
  @Query(() => Operation, { description: 'One operation by id.' })
  async operation(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.operations.present(ctx.actor, await ctx.services.operations.get(id, ctx.actor));
  }

  @Query(() => OperationConnection, { description: 'Operations, newest first.' })
  async operations(@Args() args: OperationListArgs, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    const page = await ctx.services.operations.listFor(
      ctx.actor,
      { state: args.state, targetType: args.targetType, targetId: args.targetId },
      args.first,
      offset,
    );
    return toConnection({ ...page, items: page.items.map((op) => ctx.services.operations.present(ctx.actor, op)) }, offset);
  }

  @Mutation(() => Operation, { description: 'Asks a running operation to stop.' })
  async cancelOperation(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.operations.present(ctx.actor, await ctx.services.operations.cancel(ctx.actor, id));
  }

  @Subscription(() => Operation, {
    topics: Topic.OPERATION_UPDATED,
    filter: ({ payload, args, context }: { payload: OperationEntity; args: { id?: string }; context: GatewayContext }) =>
      (!args.id || payload.id === args.id) && context.services.operations.visibleTo(context.actor, payload),
    description: 'Every change of an operation (or of the one named): state, progress, result.',
  })
  operationUpdated(@Root() operation: OperationEntity, @Ctx() ctx: GatewayContext, @Arg('id', () => ID, { nullable: true }) _id?: string): OperationEntity {
    return ctx.services.operations.present(ctx.actor, operation);
  }
}
