import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { BadInputError } from '../../gateway/errors';
import { HostEntity, HostState, ResourceEntity, SiteEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { offsetFromCursor, PageArgs, toConnection } from '../common/connection';
import { Resource } from '../resources/types';
import { CreateHostInput, CreateSiteInput, HostListArgs, SetHostDriversArgs } from './inputs';
import { HostFacts } from './host-facts-types';
import { AgentConnection, Host, HostConnection, Site, SiteConnection } from './types';
import type { AgentConnectionView } from '../../gateway/services/agent-connection-service';
import { hostAddressRange, rangeText } from '../../gateway/networks/address-range';

/** Sites. */
@Resolver(() => Site)
export class SiteResolver {
  @Query(() => Site)
  site(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<SiteEntity> {
    return ctx.services.sites.getSite(actor, id);
  }

  @Query(() => SiteConnection)
  async sites(@Args() page: PageArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(page.after);
    return toConnection(await ctx.services.sites.listSites(actor, page.first, offset), offset);
  }

  @Mutation(() => Site, { description: 'Creates a site (site admins).' })
  createSite(@Arg('input') input: CreateSiteInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<SiteEntity> {
    return ctx.services.sites.createSite(actor, input);
  }

  @FieldResolver(() => HostConnection)
  async hosts(@Root() site: SiteEntity, @Args() page: PageArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(page.after);
    return toConnection(await ctx.services.sites.listHosts(actor, { siteId: site.id }, page.first, offset), offset);
  }
}

/** Hosts and host discovery. */
@Resolver(() => Host)
export class HostResolver {
  @Query(() => Host)
  host(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.sites.getHost(actor, id);
  }

  @Query(() => HostConnection, { description: 'Host discovery: by site, technology, state, free capacity.' })
  async hosts(@Args() args: HostListArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    if ((args.minFreeType == null) !== (args.minFreeAmount == null)) throw new BadInputError('minFreeType and minFreeAmount go together');
    const offset = offsetFromCursor(args.after);
    const minFree = args.minFreeType != null ? { type: args.minFreeType, amount: args.minFreeAmount! } : undefined;
    return toConnection(await ctx.services.sites.listHosts(actor, { siteId: args.siteId, technology: args.technology, state: args.state, minFree }, args.first, offset), offset);
  }

  @Mutation(() => Host, { description: 'Registers a host in a site (site admins).' })
  createHost(@Arg('input') input: CreateHostInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.hostFacts.createHost(actor, input);
  }

  @Mutation(() => Host, { description: "Narrows the technologies placement offers on a host to some of those its agent probed (site admins)." })
  setHostDrivers(@Args() args: SetHostDriversArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.sites.setHostDrivers(actor, args.id, args.drivers ?? null);
  }

  @Mutation(() => Host, { description: "Fills a host's resources from its agent's facts and keeps their totals up to date, or stops doing so (site admins). Resources typed by hand are never touched." })
  setHostInventoryFromFacts(@Arg('id', () => ID) id: string, @Arg('on') on: boolean, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.hostFacts.setInventoryFromFacts(actor, id, on);
  }

  @Mutation(() => Host, { description: "Sets a host's IPv6 range (site admins): a /64 such as fd12:3456:789a::/64, auto (a new random unique local /64), or null (none: IPv4 only). Environments made afterwards get an IPv6 address of it; those made before keep theirs. Refused (CONFLICT, reason IPV6_ADDRESSES_HELD, listing them) while environments hold IPv6 addresses of the range it replaces." })
  setHostIpv6Range(@Arg('id', () => ID) id: string, @Arg('ipv6Range', () => String, { nullable: true }) ipv6Range: string | null, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.sites.setHostIpv6Range(actor, id, ipv6Range ?? null);
  }

  @Mutation(() => Host, { description: "Changes a host's state (site admins)." })
  setHostState(@Arg('id', () => ID) id: string, @Arg('state', () => HostState) state: HostState, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<HostEntity> {
    return ctx.services.sites.setHostState(actor, id, state);
  }

  @FieldResolver(() => HostFacts, { nullable: true, description: "What its agent last reported of its machine (CPUs, memory, filesystems, interfaces, kernel, drivers); null until it did." })
  facts(@Root() host: HostEntity): HostFacts | null {
    return host.facts ? HostFacts.of(host.facts) : null;
  }

  @FieldResolver(() => AgentConnection, { description: 'Its agent: connected, disconnected or never connected, its version and last heartbeat. A host is never UP without a live agent connection.' })
  async agentConnection(@Root() host: HostEntity, @Ctx() ctx: GatewayContext): Promise<AgentConnectionView> {
    return (await ctx.services.agentConnections.ofAgents([host.agent])).get(host.agent)!;
  }

  @FieldResolver(() => String, { description: "The IPv4 range (CIDR) its environments' addresses come from: its own, or the default picked from its id." })
  addressRange(@Root() host: HostEntity): string {
    return rangeText(hostAddressRange(host));
  }

  @FieldResolver(() => String, { nullable: true, description: "The IPv6 /64 (CIDR) its environments' IPv6 addresses come from; null: they get none." })
  ipv6Range(@Root() host: HostEntity): string | null {
    return host.ipv6Range;
  }

  @FieldResolver(() => [Resource])
  resources(@Root() host: HostEntity, @Ctx() ctx: GatewayContext): Promise<ResourceEntity[]> {
    return ctx.services.resources.ofHost(host.id);
  }
}
