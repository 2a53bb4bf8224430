import { Arg, Ctx, ID, Mutation, registerEnumType, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { OperationEntity } from '../../gateway/persistence/entities';
import { GroupDeletionMode } from '../../gateway/retirement';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { Operation } from '../operations/types';

registerEnumType(GroupDeletionMode, { name: 'GroupDeletionMode', description: "What happens to a deleted group's environments: destroyed, or handed over to another group." });

/** Leaving and retiring: draining and deleting hosts, deleting sites and images. */
@Resolver()
export class RetirementResolver {
  @Mutation(() => Operation, { description: "Moves every environment off a host (through migration) and leaves it DRAINING and empty; refused with the list of what cannot move (site admins, or admins of the host's owning group)." })
  drainHost(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.retirement.hosts.drainHost(actor, id);
  }

  @Mutation(() => Boolean, { description: "Deletes an empty host with its shares, offers, resources and machine layer; refused with the list of what is still on it (site admins, or admins of the host's owning group)." })
  deleteHost(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.retirement.hosts.deleteHost(actor, id);
  }

  @Mutation(() => Boolean, { description: "Deletes a site without hosts, with its usage policies (site admins, or admins of the site's owning group)." })
  deleteSite(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.retirement.hosts.deleteSite(actor, id);
  }

  @Mutation(() => Boolean, { description: 'Deletes an image from the catalog; refused while any environment uses it (members of its vendor group).' })
  deleteImage(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<boolean> {
    return ctx.services.retirement.images.deleteImage(actor, id);
  }

  @Mutation(() => Operation, { description: "Deletes a group: its environments destroyed or handed over (HANDOVER, to handoverTo), its shares revoked, its replicas removed; refused with the list of what blocks (the group's admins, or site admins)." })
  deleteGroup(
    @Arg('id', () => ID) id: string,
    @Arg('mode', () => GroupDeletionMode) mode: GroupDeletionMode,
    @Arg('handoverTo', () => ID, { nullable: true }) handoverTo: string | null,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<OperationEntity> {
    return ctx.services.retirement.groups.deleteGroup(actor, id, mode, handoverTo);
  }
}
