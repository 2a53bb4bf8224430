import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import type { OperationEntity, ReplicaEntity, ReplicationPolicyEntity } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import { PeerSiteInput } from '../common/peer-site';
import type { Principal } from '../common/actor';
import { Operation } from '../operations/types';
import { CreateReplicationPolicyInput, UpdateReplicationPolicyInput } from './inputs';
import { Replica, ReplicationPolicy, ReplicationStatus, ReplicationTarget } from './types';

/** Replication policies: create, change, delete, list, run now. */
@Resolver(() => ReplicationPolicy)
export class ReplicationPolicyResolver {
  @Query(() => [ReplicationPolicy], { description: "The caller's group's replication policies (site admins: all), optionally of one environment: NOT_FOUND for an environment id the caller may not see and that none of its replicas names (unknown and another group's alike)." })
  async replicationPolicies(@Arg('environmentId', () => ID, { nullable: true }) environmentId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicationPolicyEntity[]> {
    const policies = await ctx.services.replication.policies.listPolicies(actor, { environmentId: environmentId ?? undefined });
    if (environmentId && !policies.length) await requireReplicatedEnvironment(actor, environmentId, ctx);
    return policies;
  }

  @Query(() => ReplicationPolicy)
  replicationPolicy(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicationPolicyEntity> {
    return ctx.services.replication.policies.policy(actor, id);
  }

  @Mutation(() => ReplicationPolicy, { description: 'Attaches a replication policy to a layer of an environment; refused (BAD_USER_INPUT, with the reason) when it breaks the seed-000 layer rule.' })
  createReplicationPolicy(@Arg('input') input: CreateReplicationPolicyInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicationPolicyEntity> {
    return ctx.services.replication.policies.createPolicy(actor, withoutNulls(input) as CreateReplicationPolicyInput);
  }

  @Mutation(() => ReplicationPolicy)
  updateReplicationPolicy(@Arg('id', () => ID) id: string, @Arg('input') input: UpdateReplicationPolicyInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicationPolicyEntity> {
    return ctx.services.replication.policies.updatePolicy(actor, id, withoutNulls(input));
  }

  @Mutation(() => ReplicationPolicy, { description: 'Deletes a policy; the replicas it made stay unless deleteReplicas is true (then they are deleted from the stores they live in).' })
  deleteReplicationPolicy(
    @Arg('id', () => ID) id: string,
    @Arg('deleteReplicas', () => Boolean, { nullable: true }) deleteReplicas: boolean | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<ReplicationPolicyEntity> {
    return ctx.services.replication.policies.deletePolicy(actor, id, { deleteReplicas: deleteReplicas ?? false });
  }

  @Mutation(() => Operation, { description: 'Runs a policy now; follow the operation (progress: bytes, chunks, new bytes).' })
  replicateNow(@Arg('policyId', () => ID) policyId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.replication.runs.replicateNow(actor, policyId);
  }

  @Mutation(() => Operation, { description: "Restore drill now (members of its group; EXTERNAL policies): the policy's newest replica is restored into a scratch environment after every chunk is checked against its manifest, started, checked to run, and destroyed; the result is kept as lastDrill, and a failed drill raises an alert." })
  drillReplicationPolicy(@Arg('policyId', () => ID) policyId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.replication.drills.drillNow(actor, policyId);
  }

  @FieldResolver(() => ReplicationTarget)
  target(@Root() p: ReplicationPolicyEntity): ReplicationTarget {
    return { kind: p.targetKind, id: p.targetId };
  }

  @FieldResolver(() => ReplicationStatus)
  async status(@Root() p: ReplicationPolicyEntity, @Ctx() ctx: GatewayContext): Promise<ReplicationStatus> {
    const state = p.runningOperationId ? 'RUNNING' : !p.enabled ? 'DISABLED' : p.failCount > 0 ? 'FAILED' : p.lastSyncAt ? 'OK' : 'PENDING';
    const verification = await ctx.services.replication.replicas.policyVerification(p.id);
    return { lastSyncAt: p.lastSyncAt, lastTryAt: p.lastTryAt, lastDurationMs: p.lastDurationMs, failCount: p.failCount, nextRunAt: p.nextRunAt, lastError: p.lastError, runningOperationId: p.runningOperationId, state, lastChunkCounts: p.lastChunkCounts, ...verification };
  }
}

/** Replicas and restore. */
@Resolver(() => Replica)
export class ReplicaResolver {
  @Query(() => [Replica], { description: 'Replicas the caller may see, of an environment or a policy, newest first: NOT_FOUND for an environment id the caller may not see and that none of its policies or replicas names (unknown and another group\'s alike).' })
  async replicas(
    @Arg('environmentId', () => ID, { nullable: true }) environmentId: string | undefined,
    @Arg('policyId', () => ID, { nullable: true }) policyId: string | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<ReplicaEntity[]> {
    const replicas = await ctx.services.replication.replicas.listReplicas(actor, { environmentId: environmentId ?? undefined, policyId: policyId ?? undefined });
    if (environmentId && !replicas.length && !policyId) await requireReplicatedEnvironment(actor, environmentId, ctx);
    return replicas;
  }

  @Query(() => Replica)
  replica(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicaEntity> {
    return ctx.services.replication.replicas.replica(actor, id);
  }

  @Mutation(() => Operation, { description: 'Restores a replica after verifying every checksum: EXTERNAL ones as a new (stopped unless start) environment on hostId (default: the policy target), INTERNAL ones through the restore command in their running environment.' })
  restoreReplica(
    @Arg('replicaId', () => ID) replicaId: string,
    @Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined,
    @Arg('name', () => String, { nullable: true }) name: string | undefined,
    @Arg('start', () => Boolean, { nullable: true }) start: boolean | undefined,
    @Actor() actor: Principal,
    @Ctx() ctx: GatewayContext,
  ): Promise<OperationEntity> {
    return ctx.services.replication.restores.restore(actor, replicaId, { hostId: hostId ?? undefined, name: name ?? undefined, start: start ?? undefined });
  }

  @Mutation(() => Operation, {
    description:
      "Sends a replica this site keeps to another site (one of its peer sites, RSP_PEER_SITES; through rsp federate give only the site's name), to be restored there (members of its group): the other site claims its bytes from its group's storage quota first, only the chunks it lacks are sent, and it records the replica in the group of the token it issued. The operation result names the replica there (peerReplicaId) and what moved (movedBytes).",
  })
  sendReplica(@Arg('replicaId', () => ID) replicaId: string, @Arg('to', () => PeerSiteInput) to: PeerSiteInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.replication.sending.send(actor, replicaId, to);
  }

  @Mutation(() => Operation, { description: 'Verify job (members of its group): re-hashes every chunk of the replica in its store at the configured rate, repairs damaged or missing ones from another store that holds them, and records lastVerifiedAt and verifyState; damage left raises an alert. The operation result lists what was found.' })
  verifyReplica(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.replication.verifier.verifyNow(actor, id);
  }

  @Mutation(() => Operation, { description: "Garbage collection of a replica store: mark and sweep of the chunks no manifest references (a run in progress keeps what it is writing). hostId: that host's agent store (ADMINs of the group governing the host); none: the gateway's store (site admins). The operation result says removedChunks and freedBytes." })
  collectReplicaStore(@Arg('hostId', () => ID, { nullable: true }) hostId: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<OperationEntity> {
    return ctx.services.replication.collector.collectNow(actor, hostId ?? null);
  }

  @Mutation(() => Replica, { description: 'Deletes a replica from the store it lives in (members of its group); the store is collected.' })
  deleteReplica(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ReplicaEntity> {
    return ctx.services.replication.replicas.deleteReplica(actor, id);
  }

  @FieldResolver(() => ReplicationTarget)
  target(@Root() r: ReplicaEntity): ReplicationTarget {
    return { kind: r.targetKind, id: r.targetId };
  }

  @FieldResolver(() => String)
  environmentName(@Root() r: ReplicaEntity): string {
    return r.source.name;
  }

  @FieldResolver(() => Date, { nullable: true })
  lastVerifiedAt(@Root() r: ReplicaEntity): Date | null {
    return r.verifiedAt;
  }
}

/** The input without the fields given as null (null means absent), keeping a null targetId. */
function withoutNulls<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([k, v]) => v !== undefined && (v !== null || k === 'targetId'))) as Partial<T>;
}

/**
 * An environment id the caller may ask for the replication of: an environment it may see, or one
 * its group's policies or replicas still name (a replica outlives its environment: it is how a
 * deleted one comes back). NOT_FOUND otherwise, the same for an id nobody knows as for another
 * group's environment, so that a group never learns which ids exist elsewhere.
 */
async function requireReplicatedEnvironment(actor: Principal, environmentId: string, ctx: GatewayContext): Promise<void> {
  const { policies, replicas } = ctx.services.replication;
  const [named, replicated] = await Promise.all([policies.listPolicies(actor, { environmentId }), replicas.listReplicas(actor, { environmentId })]);
  if (named.length || replicated.length) return;
  await ctx.services.environments.get(actor, environmentId);
}
