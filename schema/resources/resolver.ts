import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { ResourceClassEntity, ResourceEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { offsetFromCursor, toConnection } from '../common/connection';
import { stripUndefined } from '../groups/resolver';
import { CreateResourceClassInput, CreateResourceInput, ResourceListArgs, UpdateInventoryInput } from './inputs';
import { Resource, ResourceClass, ResourceConnection } from './types';

/** Resources and discovery. */
@Resolver(() => Resource)
export class ResourceResolver {
  @Query(() => Resource)
  resource(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ResourceEntity> {
    return ctx.services.resources.get(actor, id);
  }

  @Query(() => ResourceConnection, { description: 'Discovery: resources by type, host, site, technology, free amount, attributes, class.' })
  async resources(@Args() args: ResourceListArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    const { first, after: _after, classId, ...filter } = args;
    if (classId) {
      const hostIds = await ctx.services.resources.hostsMatchingClass(actor, classId);
      const pages = await Promise.all(hostIds.map((hostId) => ctx.services.resources.list(actor, { ...filter, hostId }, 500, 0)));
      const items = pages.flatMap((p) => p.items).sort((a, b) => a.uid - b.uid);
      return toConnection({ items: items.slice(offset, offset + first), total: items.length }, offset);
    }
    return toConnection(await ctx.services.resources.list(actor, filter, first, offset), offset);
  }

  @Mutation(() => Resource, { description: "Describes a host's resource with its inventory (site admins)." })
  createResource(@Arg('input') input: CreateResourceInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ResourceEntity> {
    return ctx.services.resources.create(actor, input);
  }

  @Mutation(() => Resource, { description: 'Changes an inventory (site admins).' })
  updateInventory(@Arg('input') input: UpdateInventoryInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ResourceEntity> {
    const { id, ...fields } = input;
    return ctx.services.resources.updateInventory(actor, id, stripUndefined(fields));
  }
}

/** Resource classes. */
@Resolver(() => ResourceClass)
export class ResourceClassResolver {
  @Query(() => [ResourceClass])
  resourceClasses(@Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ResourceClassEntity[]> {
    return ctx.services.resources.listClasses(actor);
  }

  @Mutation(() => ResourceClass, { description: 'Defines a resource class (site admins).' })
  createResourceClass(@Arg('input') input: CreateResourceClassInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ResourceClassEntity> {
    return ctx.services.resources.createClass(actor, input);
  }

  @FieldResolver(() => [ID], { description: 'Hosts whose free capacity meets every requirement.' })
  matchingHostIds(@Root() cls: ResourceClassEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<string[]> {
    return ctx.services.resources.hostsMatchingClass(actor, cls.id);
  }
}
