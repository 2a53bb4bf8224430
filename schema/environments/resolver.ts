import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { DEFAULT_IMAGE_FORMATS, type ExecResult as Exec, type EnvironmentStats as Stats } from '../../drivers/contract';
import type { GatewayContext } from '../../gateway/context';
import { BadInputError } from '../../gateway/errors';
import type { EnvironmentEntity, OperationEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { offsetFromCursor, toConnection } from '../common/connection';
import { PeerSiteInput } from '../common/peer-site';
import { Operation } from '../operations/types';
import { CreateEnvironmentInput, EnvironmentListArgs, LimitsInput } from './inputs';
import { DriverStatus, Environment, EnvironmentAddress, EnvironmentConnection, EnvironmentCreation, EnvironmentInterface, EnvironmentIntervention, EnvironmentStats, ExecResult } from './types';

/** Environments and their lifecycle; every change is an Operation. */
@Resolver(() => Environment)
export class EnvironmentResolver {
  @Query(() => Environment)
  environment(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<EnvironmentEntity> {
    return ctx.services.environments.view(actor, id);
  }

  @Query(() => EnvironmentConnection, {
    description: "The caller's group's environments and, for the admins of a group owning hosts or sites, every environment on them (redacted); site admins: all. Newest first.",
  })
  async environments(@Args() args: EnvironmentListArgs, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    const offset = offsetFromCursor(args.after);
    return toConnection(await ctx.services.environments.list(actor, { hostId: args.hostId, status: args.status, includeDestroyed: args.includeDestroyed, guests: args.guests }, args.first, offset), offset);
  }

  @FieldResolver(() => EnvironmentIntervention, { nullable: true, description: 'The last stop or eviction by the admins governing its host, with their reason; null: none.' })
  intervention(@Root() env: EnvironmentEntity): EnvironmentIntervention | null {
    return env.intervention ? { ...env.intervention, at: new Date(env.intervention.at) } : null;
  }

  @FieldResolver(() => EnvironmentInterface)
  iface(@Root() env: EnvironmentEntity): EnvironmentInterface {
    return { ...env.iface, ports: env.iface.ports ?? [], readOnlyRoot: env.iface.readOnlyRoot ?? false };
  }

  @FieldResolver(() => [EnvironmentAddress], { description: "The addresses RSP assigned it on its host's network; empty with network none or a driver without managed networks." })
  addresses(@Root() env: EnvironmentEntity): EnvironmentAddress[] {
    const assigned = env.iface.address;
    if (!assigned) return [];
    const [address, prefix] = assigned.ipv4.split('/');
    const ipv4 = { address: address!, prefix: Number(prefix), family: 'IPv4', interface: assigned.network, gateway: assigned.gateway };
    if (!assigned.ipv6 || !assigned.gateway6) return [ipv4];
    const [address6, prefix6] = assigned.ipv6.split('/');
    return [ipv4, { address: address6!, prefix: Number(prefix6), family: 'IPv6', interface: assigned.network, gateway: assigned.gateway6 }];
  }

  @Query(() => EnvironmentStats, { description: 'Live usage counters of a running environment.' })
  environmentStats(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<Stats> {
    return ctx.services.environments.stats(actor, id);
  }

  @Query(() => [DriverStatus], { description: "A host's drivers (default: this gateway's own) and what their probes found." })
  async drivers(@Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<DriverStatus[]> {
    const reports = await ctx.services.environments.drivers(actor, hostId);
    return reports.map((r) => ({ name: r.name, technology: r.technology, available: r.available, reason: r.reason, version: r.version, operations: r.capabilities.operations, limits: r.capabilities.limits, features: r.capabilities.features ?? [], imageFormats: r.capabilities.imageFormats?.length ? r.capabilities.imageFormats : [...DEFAULT_IMAGE_FORMATS] }));
  }

  @Mutation(() => EnvironmentCreation, { description: 'Creates an environment on a host; follow the operation.' })
  createEnvironment(@Arg('input') input: CreateEnvironmentInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    if (input.config && Object.values(input.config).some((v) => typeof v !== 'string')) throw new BadInputError('config values must be strings');
    return ctx.services.environments.create(actor, input);
  }

  @Mutation(() => Operation)
  startEnvironment(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.environments.act(actor, id, 'start');
  }

  @Mutation(() => Operation, { description: "Stops it. The admins governing its host may stop another group's environment, saying why (reason): its group sees the intervention." })
  stopEnvironment(@Arg('id', () => ID) id: string, @Arg('reason', () => String, { nullable: true }) reason: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.environments.act(actor, id, 'stop', { reason: reason ?? undefined });
  }

  @Mutation(() => Operation, { description: 'The admins governing its host (or site admins) evict it: stopped and destroyed with its volumes, saying why (its group sees the intervention).' })
  evictEnvironment(@Arg('id', () => ID) id: string, @Arg('reason') reason: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.environments.evict(actor, id, reason);
  }

  @Mutation(() => Operation)
  restartEnvironment(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.environments.act(actor, id, 'restart');
  }

  @Mutation(() => Operation, { description: 'Destroys it and its volumes.' })
  destroyEnvironment(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.environments.act(actor, id, 'destroy');
  }

  @Mutation(() => Operation, { description: 'Replaces the image (default: the same one) and keeps the config and data volumes (seed 002); new limits, merged over the current ones, are claimed on its host first (FORBIDDEN / CONFLICT when they do not fit).' })
  rebuildEnvironment(
    @Arg('id', () => ID) id: string,
    @Arg('imageId', () => ID, { nullable: true }) imageId: string | undefined,
    @Arg('limits', () => LimitsInput, { nullable: true }) limits: LimitsInput | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<OperationEntity> {
    return ctx.services.environments.act(actor, id, 'rebuild', { imageId: imageId ?? undefined, limits: limits ?? undefined });
  }

  @Mutation(() => EnvironmentCreation, { description: 'Copies an environment (filesystem, config, volumes) into a new one, here or on another host; the copy starts stopped.' })
  copyEnvironment(@Arg('id', () => ID) id: string, @Arg('name') name: string, @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext) {
    return ctx.services.environments.clone(actor, id, { name, hostId });
  }

  @Mutation(() => Operation, {
    description:
      "Copies an environment to another site (one of this site's peer sites, RSP_PEER_SITES; through rsp federate give only the site's name), or with move: true migrates it (it must be stopped; destroyed here once restored there). Only the chunks the other site's store lacks are sent; that site claims the bytes from its group's storage quota, needs an image of the same digest (CONFLICT IMAGE_MISSING: importImage there first), keeps the replica and restores it on hostId (a host id of that site). The operation result names the new environment there (environmentId) and the bytes moved.",
  })
  copyEnvironmentToSite(
    @Arg('id', () => ID) id: string,
    @Arg('to', () => PeerSiteInput) to: PeerSiteInput,
    @Arg('hostId', () => String, { description: "The host at the other site (that site's id of it)." }) hostId: string,
    @Arg('name', () => String, { nullable: true }) name: string | undefined,
    @Arg('move', () => Boolean, { nullable: true }) move: boolean | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<OperationEntity> {
    return ctx.services.environmentTransfer.transfer(actor, id, { to, hostId, name: name ?? null, move: move ?? false });
  }

  @Mutation(() => ExecResult, { description: 'Runs a command (an argument list, no shell) in a running environment.' })
  execEnvironment(@Arg('id', () => ID) id: string, @Arg('command', () => [String]) command: string[], @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<Exec> {
    return ctx.services.environments.exec(actor, id, command);
  }
}
