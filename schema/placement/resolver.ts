import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { policy } from '../../gateway/auth/policy';
import type { GatewayContext } from '../../gateway/context';
import { isRspError } from '../../gateway/errors';
import type { AllocationEntity, AllocationRequestEntity, EnvironmentEntity, ResourceEntity } from '../../gateway/persistence/entities';
import { Environment } from '../environments/types';
import type { PlacementResult } from '../../gateway/services/placement-service';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { offsetFromCursor, PageArgs, toConnection } from '../common/connection';
import { Resource } from '../resources/types';
import { AllocateManyArgs, AllocationListArgs, AllocationRequestInput, AllocationRequestListArgs } from './inputs';
import { Allocation, AllocationConnection, AllocationRequest, AllocationRequestConnection, AllocationResult, PlacementExplanation, ResourceWant } from './types';

/** Placement: dry runs, allocation, approval, leases and release. */
@Resolver(() => AllocationRequest)
export class AllocationRequestResolver {
  @Query(() => PlacementExplanation, { description: "Dry run: hosts ranked for the request's first replica, and the filter that rejected each other host." })
  async placementCandidates(@Arg('request') request: AllocationRequestInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<PlacementExplanation> {
    const { candidates, rejections } = await ctx.services.placement.candidates(actor, request);
    return {
      candidates: candidates.map((c) => ({ hostId: c.host.id, hostname: c.host.hostname, siteId: c.host.siteId, score: c.score, technology: c.technology })),
      rejected: rejections.map((r) => ({ hostId: r.host.id, hostname: r.host.hostname, filter: r.filter, reason: r.reason })),
    };
  }

  @Query(() => AllocationRequest)
  allocationRequest(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationRequestEntity> {
    return ctx.services.placement.getRequest(actor, id);
  }

  @Query(() => AllocationRequestConnection, { description: "A group's requests; site admins see all (PENDING ones wait for them)." })
  async allocationRequests(@Args() args: AllocationRequestListArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    return toConnection(await ctx.services.placement.listRequests(actor, { groupId: args.groupId, status: args.status }, args.first, offset), offset);
  }

  @Query(() => AllocationRequestConnection, { description: 'PENDING requests the caller may decide, oldest first: all for site admins; for the admins of a group owning hosts or sites, those naming only hosts they govern and those naming none whose group owns or has a share on one of them. Empty for anyone else.' })
  async approvalRequests(@Args() args: PageArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    return toConnection(await ctx.services.placement.listApprovalRequests(actor, args.first, offset), offset);
  }

  @Mutation(() => AllocationRequest, { description: 'Places a request (DIRECT, AUTOMATIC) or records it for a site admin (APPROVAL). CONFLICT when no host can take it.' })
  async allocate(@Arg('request') request: AllocationRequestInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationRequestEntity> {
    return withAllocations(await ctx.services.placement.allocate(actor, request));
  }

  @Mutation(() => [AllocationResult], { description: 'Places many requests at once; each item has its request or its own error.' })
  allocateMany(@Args() args: AllocateManyArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationResult[]> {
    return allocateManyResults(args.requests, actor, ctx);
  }

  @Mutation(() => AllocationRequest, { description: 'A site admin approves a PENDING request, on the hosts named or where the scheduler chooses; the admins governing hosts approve onto their hosts. NOT_FOUND for a request the caller may neither decide nor see.' })
  async approveAllocation(@Arg('id', () => ID) id: string, @Arg('hostIds', () => [ID], { nullable: true }) hostIds: string[] | undefined, @Arg('reason', () => String, { nullable: true }) reason: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationRequestEntity> {
    return withAllocations(await ctx.services.placement.approve(actor, id, hostIds ?? undefined, reason ?? undefined));
  }

  @Mutation(() => AllocationRequest, { description: 'A site admin (or the admins governing every host it names) rejects a PENDING request, saying why.' })
  rejectAllocation(@Arg('id', () => ID) id: string, @Arg('reason') reason: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationRequestEntity> {
    return ctx.services.placement.reject(actor, id, reason);
  }

  @FieldResolver(() => [Allocation], { description: "The allocations placed for it: only its group's members (and site admins) see them; the host admins who decided it do not." })
  async allocations(@Root() request: AllocationRequestEntity & { placed?: AllocationEntity[] }, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationEntity[]> {
    if (!policy.isMember(actor, request.groupId)) return [];
    return request.placed ?? ctx.services.placement.ofRequest(request.id);
  }

  @FieldResolver(() => String, { description: "The name of the token that made it; the host admins deciding another group's request see only that it came from that group." })
  requestedBy(@Root() request: AllocationRequestEntity, @Actor() actor: Principal): string {
    return policy.isMember(actor, request.groupId) ? request.requestedBy : `a token of group ${request.groupId}`;
  }
}

/** Allocations: reads, lease renewal, release. */
@Resolver(() => Allocation)
export class AllocationResolver {
  @Query(() => Allocation)
  allocation(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationEntity> {
    return ctx.services.placement.get(actor, id);
  }

  @Query(() => AllocationConnection, { description: "A group's allocations (site admins: all), newest first." })
  async allocations(@Args() args: AllocationListArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    const { first, after: _after, ...filter } = args;
    return toConnection(await ctx.services.placement.list(actor, filter, first, offset), offset);
  }

  @Mutation(() => Allocation, { description: 'Extends the lease from now (default: the request lease). CONFLICT once expired.' })
  renewAllocation(@Arg('id', () => ID) id: string, @Arg('leaseSeconds', () => Int, { nullable: true }) leaseSeconds: number | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationEntity> {
    return ctx.services.placement.renew(actor, id, leaseSeconds ?? undefined);
  }

  @Mutation(() => Allocation, { description: 'Releases an allocation: its capacity goes back exactly.' })
  releaseAllocation(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationEntity> {
    return ctx.services.placement.release(actor, id);
  }
}

/** What an allocation holds. */
@Resolver(() => Allocation)
export class AllocationHoldingsResolver {
  @FieldResolver(() => [ResourceWant], { description: 'What it holds on its host: one amount per resource.' })
  holds(@Root() allocation: AllocationEntity, @Ctx() ctx: GatewayContext): Promise<Array<{ type: string; amount: number; unit: string }>> {
    return ctx.services.placement.holdings(allocation.requestId);
  }
}

/** What holds an environment's capacity. */
@Resolver(() => Environment)
export class EnvironmentHoldersResolver {
  @FieldResolver(() => [Allocation], { description: "The active allocations holding its capacity: the one it was made on, or the implicit one claimed for its limits (two while it moves between hosts); only its group's members (and site admins) see them." })
  async heldBy(@Root() env: EnvironmentEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<AllocationEntity[]> {
    // The admins governing its host see a guest redacted: its group's allocations stay private.
    return (await ctx.services.placement.heldBy(env.id)).filter((a) => policy.isMember(actor, a.groupId));
  }
}

/** SRSM-2 owners of a resource. */
@Resolver(() => Resource)
export class ResourceOwnersResolver {
  @FieldResolver(() => [ID], { description: "SRSM-2 owners: the caller's group's allocations holding a portion of this resource now (site admins: all); the rest are counted in otherOwners." })
  async owners(@Root() resource: ResourceEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<string[]> {
    return (await ctx.services.placement.ownersOf(actor, resource.id)).mine;
  }

  @FieldResolver(() => Int, { description: "How many other groups' allocations hold a portion of this resource now (their ids are private)." })
  async otherOwners(@Root() resource: ResourceEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<number> {
    return (await ctx.services.placement.ownersOf(actor, resource.id)).others;
  }
}

/**
 * `allocateMany`: each request's result or its own error. Shared by the resolver method (which
 * declares the field) and the executable schema, which calls it with the requests as GraphQL
 * coerced them (see `directFieldResolvers`).
 */
export async function allocateManyResults(requests: AllocationRequestInput[], actor: Principal, ctx: GatewayContext): Promise<AllocationResult[]> {
  const results = await ctx.services.placement.allocateMany(actor, requests);
  return results.map((r, index) => (isRspError(r) ? { index, request: null, error: { code: r.category, message: r.message } } : { index, request: withAllocations(r) as AllocationRequest, error: null }));
}

/** The request with the allocations just placed, so the field resolver need not read them back. */
function withAllocations(result: PlacementResult): AllocationRequestEntity {
  return Object.assign(result.request, { placed: result.allocations });
}
