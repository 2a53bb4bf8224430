import { Arg, Args, Ctx, FieldResolver, Float, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { policy } from '../../gateway/auth/policy';
import type { GatewayContext } from '../../gateway/context';
import type { GroupEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { offsetFromCursor, PageArgs, toConnection } from '../common/connection';
import { CreateGroupInput, UpdateGroupInput } from './inputs';
import { Group, GroupConnection, GroupNote, GroupStorage } from './types';

/** Groups: create, update, read; private fields only for members. */
@Resolver(() => Group)
export class GroupResolver {
  @Query(() => Group, { description: 'One group.' })
  group(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<GroupEntity> {
    return ctx.services.groups.get(actor, id);
  }

  @Query(() => GroupConnection, { description: 'Every group, by name.' })
  async groups(@Args() page: PageArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(page.after);
    return toConnection(await ctx.services.groups.list(actor, page.first, offset), offset);
  }

  @Mutation(() => Group, { description: 'Creates a group (site admins).' })
  createGroup(@Arg('input') input: CreateGroupInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<GroupEntity> {
    return ctx.services.groups.create(actor, input);
  }

  @Mutation(() => Group, { description: "Updates a group (the group's admins)." })
  updateGroup(@Arg('input') input: UpdateGroupInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<GroupEntity> {
    const { id, ...fields } = input;
    return ctx.services.groups.update(actor, id, stripUndefined(fields));
  }

  @Mutation(() => Group, { description: "Sets a group's storage quota of the gateway's stores in bytes; null: the installation default (site admins)." })
  setGroupStorageQuota(@Arg('groupId', () => ID) groupId: string, @Arg('bytes', () => Float, { nullable: true }) bytes: number | null, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<GroupEntity> {
    return ctx.services.groups.setStorageQuota(actor, groupId, bytes ?? null);
  }

  @FieldResolver(() => GroupStorage, { nullable: true, description: "What it keeps in the gateway's stores and its quota. Members only." })
  storage(@Root() group: GroupEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<GroupStorage> | null {
    return policy.isMember(actor, group.id) ? ctx.services.storageQuotas.storageOf(group) : null;
  }

  @FieldResolver(() => String, { nullable: true })
  contact(@Root() group: GroupEntity, @Actor() actor: Principal): string | null {
    return policy.isMember(actor, group.id) ? group.contact : null;
  }

  @FieldResolver(() => [GroupNote], { nullable: true })
  financial(@Root() group: GroupEntity, @Actor() actor: Principal): GroupNote[] | null {
    return policy.isMember(actor, group.id) ? group.financial : null;
  }

  @FieldResolver(() => [GroupNote], { nullable: true })
  legal(@Root() group: GroupEntity, @Actor() actor: Principal): GroupNote[] | null {
    return policy.isMember(actor, group.id) ? group.legal : null;
  }
}

/** Drops keys whose value is absent or null, so partial updates leave those fields alone. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}
