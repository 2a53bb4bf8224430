import { DataSource, EntityManager, In, Not, Repository } from 'typeorm';
import type { ExecResult, EnvironmentStats, InteractiveProcess, LogRead, ResourceLimits } from '../../drivers/contract';
import type { DriverProbeReport } from '../../drivers/registry';
import type { AgentLink } from '../agent/agent-link';
import { callContext } from '../agent/call-context';
import { copyEnvironment } from '../agent/environment-copy';
import { environmentRequest } from '../agent/environment-request';
import type { HostAgent } from '../agent/host-agent';
import type { ImageArtifact } from '../agent/protocol';
import { HostOwners } from '../auth/host-owners';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { driftOf, EnvironmentLifecycle, LogFollower, settledStatus, TRANSIENT_STATUSES, validateEnvironmentName, type Alongside, type CarriedWrite, type EnvironmentEnding, type LifecycleAction, type NewEnvironment, type RecordOptions } from '../environments';
import { BadInputError, ConflictError, isRspError, NotFoundError, RspError, UnsupportedOperationError } from '../errors';
import type { Logger } from '../logging/logger';
import { BatchedStatement } from '../persistence/batched-statement';
import { EntityStatements } from '../persistence/entity-statements';
import { UUID_PATTERN } from '../persistence/time-ordered-id';
import {
  EnvironmentEntity,
  EnvironmentInterface,
  EnvironmentIntervention,
  EnvironmentStatus,
  EnvironmentVolume,
  HostEntity,
  type PublishedPort,
  HostState,
  ImageEntity,
  MemberRole,
  OperationEntity,
  OperationState,
  ResourceEntity,
} from '../persistence/entities';
import type { ImageService } from './image-service';
import type { NewOperation, OperationService, OperationWork } from './operation-service';
import { limitWants } from '../placement/implicit';
import type { PlacementService } from './placement-service';
import { limitsWithin, validateInterface, validateLimits, validatePorts, validateVolumes } from './environment-rules';
import { presentEnvironments } from './environment-views';

/** Most lines one log read may ask for. */
export const MAX_LOG_TAIL = 10_000;

/** Lines a follow starts with when it names neither a tail nor a cursor. */
const DEFAULT_FOLLOW_TAIL = 100;

/** While in these states an environment's engine object is being made, replaced, moved or removed: its log waits. */
const LOG_UNSETTLED: ReadonlySet<EnvironmentStatus> = new Set([EnvironmentStatus.CREATING, EnvironmentStatus.REBUILDING, EnvironmentStatus.DESTROYING, EnvironmentStatus.MIGRATING, EnvironmentStatus.RESTORING]);

/** What a caller gives to create an environment. */
export interface CreateEnvironment {
  groupId: string;
  /** The host; may be left out when `allocationId` is given (its host is used). */
  hostId?: string;
  /** An active allocation of the group: the environment runs on its host, within what it holds. */
  allocationId?: string;
  name: string;
  imageId: string;
  /** The registry name of the driver; default: the host's first usable driver of the image's technology. */
  driver?: string;
  limits?: ResourceLimits;
  volumes?: EnvironmentVolume[];
  hostname?: string;
  dns?: string[];
  /** `bridge` (default where the driver has managed networks: an address of the host's range) or `none` (loopback only). */
  network?: 'none' | 'bridge';
  config?: Record<string, string>;
  command?: string[];
  /** Host ports to publish to it (unique per host). */
  ports?: PublishedPort[];
  /** A read-only root filesystem; default: true where the driver can make one. */
  readOnlyRoot?: boolean;
}

/** What reconciliation found. */
export interface ReconcileReport {
  checked: number;
  drifted: number;
  /** Environments the engines report as RSP's that the database does not know. */
  unknown: Array<{ driver: string; id: string }>;
}

const ACTIVE = Not(In([EnvironmentStatus.DESTROYED]));

/** A host as a lifecycle step reads it: without the facts its agent reports. */
type StepHost = Omit<HostEntity, 'facts' | 'fingerprint'>;

/**
 * Environments: virtual spaces on hosts. Validates requests, records them, and carries out every
 * lifecycle step as an Operation through the host's agent (never a driver directly).
 */
export class EnvironmentService {
  private readonly repo: Repository<EnvironmentEntity>;
  private readonly owners: HostOwners;
  /** Environments and hosts read on every lifecycle step, without the query builder's cost per call. */
  private readonly environmentRows: EntityStatements<EnvironmentEntity>;
  /** Hosts without the facts their agents report (a step needs none of them, and their JSON was most of the row's cost). */
  private readonly hostRows: EntityStatements<HostEntity>;
  private onHostText: string | undefined;
  /** Images read with their host by a create (`hostAndImage`). */
  private readonly imageRows: EntityStatements<ImageEntity>;
  private hostAndImageText: string | undefined;
  /** The environments of agents' hosts left in a transient status, read for many reconnecting agents in one statement (each caller gets its own copies). */
  private readonly stuckOfAgents = new BatchedStatement<string, EnvironmentEntity[]>(async (agentIds) => {
    const { entities, raw } = await this.repo
      .createQueryBuilder('e')
      .innerJoin(HostEntity, 'h', 'h.id = e."hostId"')
      .addSelect('h.agent', 'agent')
      .where('h.agent IN (:...agentIds) AND e.status IN (:...transient)', { agentIds: [...new Set(agentIds)], transient: [...TRANSIENT_STATUSES] })
      .getRawAndEntities();
    const agentOf = new Map((raw as Array<{ e_id: string; agent: string }>).map((r) => [r.e_id, r.agent]));
    const byAgent = new Map<string, EnvironmentEntity[]>();
    for (const env of entities) {
      const agent = agentOf.get(env.id)!;
      byAgent.set(agent, [...(byAgent.get(agent) ?? []), env]);
    }
    return (agentId) => (byAgent.get(agentId) ?? []).map((env) => Object.assign(new EnvironmentEntity(), env));
  });

  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentLink,
    private readonly operations: OperationService,
    private readonly images: ImageService,
    private readonly logger: Logger,
    /** The one writer of environments' records, statuses and events. */
    private readonly lifecycle: EnvironmentLifecycle,
    /** Allocations environments run on; without it `allocationId` is refused. */
    private readonly placement?: PlacementService,
  ) {
    this.repo = dataSource.getRepository(EnvironmentEntity);
    this.owners = new HostOwners(dataSource);
    this.environmentRows = new EntityStatements(dataSource, EnvironmentEntity);
    this.hostRows = new EntityStatements(dataSource, HostEntity, ['facts', 'fingerprint']);
    this.imageRows = new EntityStatements(dataSource, ImageEntity);
  }

  /** Validates and records a new environment, then creates it on its host in an operation. */
  async create(actor: Principal, input: CreateEnvironment): Promise<{ environment: EnvironmentEntity; operation: OperationEntity }> {
    policy.requireRole(actor, input.groupId, MemberRole.MEMBER, 'create environments for this group');
    validateEnvironmentName(input.name);
    const held = input.allocationId ? await this.heldAllocation(actor, input) : undefined;
    const hostId = held?.allocation.hostId ?? input.hostId;
    if (!hostId) throw new BadInputError('Name the host (hostId) or an allocation on it (allocationId)');
    const read = await this.hostAndImage(hostId, input.imageId);
    const host = read ? read.host : await this.hostRows.byId(hostId);
    if (!host) throw new NotFoundError('Host', hostId);
    if (host.state !== HostState.UP) throw new ConflictError(`Host ${host.hostname} is ${host.state}, not UP`, { hostId: host.id, state: host.state });
    const image = this.withContent(read ? this.images.usable(actor, input.imageId, read.image) : await this.images.get(actor, input.imageId));
    const agent = await this.agents.forHost(host);
    const driver = pickDriver(await agent.drivers(), image, input.driver, host.hostname);
    if (held?.allocation.technology && held.allocation.technology !== driver.technology) {
      throw new BadInputError(`Allocation ${held.allocation.id} is for ${held.allocation.technology}; driver ${driver.name} runs ${driver.technology}`, { allocationId: held.allocation.id, technology: held.allocation.technology });
    }
    const volumes = (input.volumes ?? []).map((v) => ({ name: v.name, kind: v.kind, mountPath: v.mountPath, readOnly: v.readOnly ?? false }));
    validateVolumes(volumes);
    const features = driver.capabilities?.features ?? [];
    const network = input.network ?? (features.includes('managedNetwork') ? 'bridge' : 'none');
    const ports = (input.ports ?? []).map((p) => ({ hostPort: p.hostPort, port: p.port, protocol: p.protocol ?? 'tcp' }));
    validatePorts(ports);
    if (ports.length && !features.includes('publishedPorts')) throw new UnsupportedOperationError('published ports', `driver ${driver.name}`, 'the driver cannot publish host ports');
    if (ports.length && network === 'none') throw new BadInputError('Published ports need a network: leave network out or set it to bridge', { network });
    const readOnlyRoot = input.readOnlyRoot ?? features.includes('readOnlyRoot');
    if (readOnlyRoot && !features.includes('readOnlyRoot')) throw new UnsupportedOperationError('a read-only root filesystem', `driver ${driver.name}`, 'the driver cannot make the root filesystem read-only');
    const iface: EnvironmentInterface = { hostname: input.hostname ?? input.name, dns: input.dns ?? [], network, config: input.config ?? {}, readOnlyRoot };
    validateInterface(iface);
    const limits = held ? limitsWithin(input.limits ?? {}, held.held, driver.capabilities?.limits ?? [], held.allocation.id) : (input.limits ?? {});
    // The host's resources bound the limits asked; without limits there is nothing to read.
    const resources = Object.values(limits).some((v) => v !== undefined) ? await this.dataSource.getRepository(ResourceEntity).findBy({ hostId: host.id }) : [];
    validateLimits(limits, driver.capabilities?.limits ?? [], driver.name, resources, host.hostname);
    if (input.command && (input.command.length === 0 || input.command.some((a) => a.includes('\0')))) throw new BadInputError('command must be a non-empty list of arguments');

    // The image's artifact (stored as chunks on its first use) is looked up while the environment is recorded.
    const artifact = this.imageArtifact(image);
    artifact.catch(() => undefined);
    const { environment, launch } = await this.record(
      { name: input.name, groupId: input.groupId, hostId: host.id, driver: driver.name, technology: driver.technology, imageId: image.id, limits, volumes, iface, command: input.command ?? null },
      host.layerId,
      held?.allocation.id ?? null,
      policy.requireAuthenticated(actor).name,
      (env) => ({ kind: 'environment.create', targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { host: host.hostname, driver: env.driver } }),
      { assignAddress: network === 'bridge' && features.includes('managedNetwork'), ports },
    );

    const operation = launch(async (op) => {
      try {
        await op.progress(0.1, 'importing the image and creating');
        const { image: imageRef } = await agent.createEnvironment({ driver: environment.driver, image: await artifact, environment: environmentRequest(environment) }, callContext(agent, { signal: op.signal, operationId: op.operationId }));
        // Written with the operation's end, in one statement.
        op.succeedWith(this.lifecycle.endCarried(environment, { status: EnvironmentStatus.CREATED, imageRef, lastError: null }));
        return { environmentId: environment.id };
      } catch (e) {
        await agent.removeVolumes({ environmentId: environment.id }).catch(() => undefined);
        await this.update(environment, { status: EnvironmentStatus.FAILED, lastError: (e as Error).message });
        throw e;
      }
    });
    return { environment, operation };
  }

  /**
   * Starts, stops, restarts, destroys or rebuilds an environment, as an operation. A rebuild takes
   * a new image (`imageId`), new limits (`limits`, merged over the current ones), or both; new
   * limits are claimed on its host as the rebuild begins (within its allocation when it runs on
   * one), so a rebuild that does not fit is refused before anything changes. The admins governing
   * its host may stop it too, with a reason its group sees (`intervention`).
   */
  async act(actor: Principal, id: string, action: LifecycleAction, options: { imageId?: string; limits?: ResourceLimits; reason?: string } = {}): Promise<OperationEntity> {
    const { env, host } = await this.getOnHost(actor, id);
    const intervention = await this.interventionOf(actor, env, action === 'stop' ? 'stop' : null, options.reason, `${action} this environment`);
    return this.run(actor, env, host, action, options, intervention);
  }

  /**
   * The admins governing its host (or site admins) evict an environment: it is stopped and
   * destroyed with its volumes, its capacity released, and its group sees who did it and why.
   */
  async evict(actor: Principal, id: string, reason: string): Promise<OperationEntity> {
    const { env, host } = await this.getOnHost(actor, id);
    await this.owners.requireGovernsHost(actor, env.hostId, 'evict environments from this host');
    if (!reason.trim()) throw new BadInputError("Say why you evict the environment: its group sees the reason", { reason });
    const intervention = (await this.interventionOf(actor, env, 'evict', reason, 'evict this environment')) ?? this.interventionBy(actor, 'evict', reason);
    return this.run(actor, env, host, 'destroy', {}, intervention);
  }

  private async run(actor: Principal, env: EnvironmentEntity, host: StepHost, action: LifecycleAction, options: { imageId?: string; limits?: ResourceLimits }, intervention: EnvironmentIntervention | null): Promise<OperationEntity> {
    const agent = await this.agents.forHost(host);
    let newImage: (ImageEntity & { digest: string }) | undefined;
    let resized: { limits: ResourceLimits; alongside?: Alongside } | undefined;
    if (action === 'rebuild') {
      if (!options.imageId && !options.limits) throw new BadInputError('rebuild needs a new imageId or new limits');
      newImage = this.withContent(await this.images.get(actor, options.imageId ?? env.imageId));
      if (newImage.technology !== env.technology) throw new BadInputError(`Image ${newImage.name}:${newImage.version} is for ${newImage.technology}, the environment runs ${env.technology}`);
      if (options.limits) resized = await this.resize(actor, env, host, agent, options.limits);
    }
    // Without new limits to claim, the step's status claim is written with its operation, in one statement.
    const claim = resized ? undefined : this.lifecycle.beginCarried(env, action, intervention ? { intervention } : {});
    const from = claim ? claim.from : await this.lifecycle.begin(env, action, { ...resized, ...(intervention ? { intervention } : {}) });
    const kind = intervention?.action === 'evict' ? 'evict' : action;
    const actorGroupId = intervention && actor.kind === 'token' ? actor.groupId : null;
    return this.operations.start({ kind: `environment.${kind}`, targetType: 'Environment', targetId: env.id, groupId: env.groupId, actorGroupId, log: { host: host.hostname, driver: env.driver } }, async (op) => {
      const signal = op.signal;
      const context = () => callContext(agent, { signal, operationId: op.operationId });
      const target = { driver: env.driver, environmentId: env.id };
      // How the step ends, written with the operation's end in one statement.
      let ending: EnvironmentEnding | undefined;
      // A destroy's end, releasing what the environment holds, written with the operation's end too (one statement).
      let destroyed: CarriedWrite | undefined;
      try {
        switch (action) {
          case 'start':
            await agent.startEnvironment(target, context());
            ending = { status: EnvironmentStatus.RUNNING, lastError: null };
            break;
          case 'stop':
            await agent.stopEnvironment({ ...target, graceSeconds: 10 }, context());
            ending = { status: EnvironmentStatus.STOPPED, lastError: null };
            break;
          case 'restart':
            await agent.stopEnvironment({ ...target, graceSeconds: 10 }, context());
            await op.progress(0.5, 'starting');
            await agent.startEnvironment(target, context());
            ending = { status: EnvironmentStatus.RUNNING, lastError: null };
            break;
          case 'destroy':
            await agent.destroyEnvironment({ ...target, removeVolumes: true }, context());
            destroyed = this.lifecycle.endDestroyedCarried(env, null, this.placement?.releaseCarried());
            break;
          case 'rebuild': {
            const image = newImage!;
            await op.progress(0.1, 'importing the new image, then replacing the image, keeping the volumes');
            const { image: imageRef } = await agent.createEnvironment({ driver: env.driver, image: await this.imageArtifact(image), environment: environmentRequest(env), replace: true }, context());
            if (from === EnvironmentStatus.RUNNING) await agent.startEnvironment(target, context());
            ending = { status: from === EnvironmentStatus.RUNNING ? EnvironmentStatus.RUNNING : EnvironmentStatus.STOPPED, imageId: image.id, imageRef, lastError: null };
            break;
          }
        }
        if (ending) op.succeedWith(this.lifecycle.endCarried(env, ending));
        if (destroyed) op.succeedWith(destroyed);
        return { environmentId: env.id, status: ending?.status ?? (destroyed ? EnvironmentStatus.DESTROYED : env.status) };
      } catch (e) {
        // A failed start/stop leaves the environment as it was; a failed destroy or rebuild leaves it FAILED.
        const back = action === 'destroy' || action === 'rebuild' ? EnvironmentStatus.FAILED : from;
        await this.update(env, { status: back, lastError: (e as Error).message });
        throw e;
      }
    }, claim);
  }

  /**
   * Copies an environment — filesystem, config and volumes — into a new one, on the same host or
   * another host with the same driver (seed 004: an instance is a portable disk image). The copy
   * is created stopped; the source keeps running. One operation.
   */
  async clone(actor: Principal, id: string, input: { name: string; hostId?: string }): Promise<{ environment: EnvironmentEntity; operation: OperationEntity }> {
    const source = await this.get(actor, id);
    policy.requireRole(actor, source.groupId, MemberRole.MEMBER, 'copy this environment');
    if (![EnvironmentStatus.CREATED, EnvironmentStatus.STOPPED, EnvironmentStatus.RUNNING].includes(source.status)) {
      throw new ConflictError(`Cannot copy environment ${source.name}: it is ${source.status}`, { status: source.status });
    }
    validateEnvironmentName(input.name);
    const hosts = this.dataSource.getRepository(HostEntity);
    const sourceHost = await hosts.findOneByOrFail({ id: source.hostId });
    const targetHost = input.hostId ? await hosts.findOneBy({ id: input.hostId }) : sourceHost;
    if (!targetHost) throw new NotFoundError('Host', input.hostId!);
    if (targetHost.state !== HostState.UP) throw new ConflictError(`Host ${targetHost.hostname} is ${targetHost.state}, not UP`, { hostId: targetHost.id });
    const from = await this.agents.forHost(sourceHost);
    const to = await this.agents.forHost(targetHost);
    const driver = (await to.drivers()).find((d) => d.name === source.driver && d.available);
    if (!driver) throw new BadInputError(`Host ${targetHost.hostname} has no usable driver ${source.driver}`, { driver: source.driver });
    const { environment: copy, launch } = await this.record(
      { ...source, name: input.name, hostId: targetHost.id, iface: { ...source.iface, hostname: source.iface.hostname === source.name ? input.name : source.iface.hostname } },
      targetHost.layerId,
      null,
      policy.requireAuthenticated(actor).name,
      (env) => ({ kind: 'environment.copy', targetType: 'Environment', targetId: env.id, groupId: env.groupId, log: { host: targetHost.hostname, driver: env.driver } }),
    );
    const operation = launch(async (op) => {
      try {
        await op.progress(0.1, `exporting ${source.name}`);
        const info = await copyEnvironment(from, to, { driver: source.driver, environmentId: source.id }, environmentRequest(copy), source.imageRef ?? { ref: '' }, { signal: op.signal, operationId: op.operationId, onProgress: (f, m) => void op.progress(0.1 + 0.8 * f, m), logger: this.logger });
        await this.update(copy, { status: EnvironmentStatus.STOPPED, imageRef: info.image, lastError: null });
        return { environmentId: copy.id, from: source.id };
      } catch (e) {
        await to.removeVolumes({ environmentId: copy.id }).catch(() => undefined);
        await this.update(copy, { status: EnvironmentStatus.FAILED, lastError: (e as Error).message });
        throw e;
      }
    });
    return { environment: copy, operation };
  }

  /** An environment of the caller's group, or on a host the caller governs (site admins: any); NOT_FOUND otherwise. The record as stored. */
  async get(actor: Principal, id: string): Promise<EnvironmentEntity> {
    policy.requireAuthenticated(actor);
    return this.visible(actor, id, await this.repo.findOneBy({ id }));
  }

  /** Like `get`, with its host, read in the same statement (a lifecycle step needs both). */
  private async getOnHost(actor: Principal, id: string): Promise<{ env: EnvironmentEntity; host: StepHost }> {
    policy.requireAuthenticated(actor);
    this.onHostText ??= `SELECT ${this.environmentRows.select('e')}, ${this.hostRows.select('h')} FROM ${this.environmentRows.tableName} e INNER JOIN ${this.hostRows.tableName} h ON h.id = e."hostId" WHERE e.id = $1`;
    const [row] = (await this.dataSource.query(this.onHostText, [id])) as Array<Record<string, unknown>>;
    const env = await this.visible(actor, id, row ? this.environmentRows.hydrate(row, 'e_') : null);
    return { env, host: this.hostRows.hydrate(row!, 'h_') };
  }

  /**
   * A create's host and image, read in one statement (each null when there is none); undefined
   * when either id is no UUID, for the reads one by one to refuse it as they do (naming that id).
   */
  private async hostAndImage(hostId: string, imageId: string): Promise<{ host: StepHost | null; image: ImageEntity | null } | undefined> {
    if (!UUID_PATTERN.test(hostId) || !UUID_PATTERN.test(imageId)) return undefined;
    this.hostAndImageText ??= `SELECT ${this.hostRows.select('h')}, ${this.imageRows.select('i')} FROM (VALUES (1)) one LEFT JOIN ${this.hostRows.tableName} h ON h.id = $1 LEFT JOIN ${this.imageRows.tableName} i ON i.id = $2`;
    const [row] = (await this.dataSource.query(this.hostAndImageText, [hostId, imageId])) as Array<Record<string, unknown>>;
    return { host: row?.h_id == null ? null : this.hostRows.hydrate(row, 'h_'), image: row?.i_id == null ? null : this.imageRows.hydrate(row, 'i_') };
  }

  /** The environment read, if the actor may see it (see `get`); NOT_FOUND otherwise. */
  private async visible(actor: Principal, id: string, env: EnvironmentEntity | null): Promise<EnvironmentEntity> {
    if (!env || !(policy.isMember(actor, env.groupId) || (await this.owners.governsHost(actor, env.hostId)))) throw new NotFoundError('Environment', id);
    return env;
  }

  /** An environment as the caller may see it (`presentEnvironments`: redacted for its host's owners). */
  async view(actor: Principal, id: string): Promise<EnvironmentEntity> {
    const [env] = await presentEnvironments(this.dataSource, actor, [await this.get(actor, id)]);
    return env!;
  }

  /**
   * Environments the caller may see, newest first: its group's and, for the admins of a group
   * owning hosts or sites, every environment on them (redacted). `guests`: only other groups'
   * environments on the hosts the caller's group governs.
   */
  async list(actor: Principal, filter: { hostId?: string; status?: EnvironmentStatus; includeDestroyed?: boolean; guests?: boolean }, limit: number, offset: number): Promise<{ items: EnvironmentEntity[]; total: number }> {
    const p = policy.requireAuthenticated(actor);
    const qb = this.repo.createQueryBuilder('e');
    const ownGroup = p.groupId ?? '00000000-0000-0000-0000-000000000000';
    const governed = filter.guests ? (p.groupId && p.role === MemberRole.ADMIN ? await this.owners.hostsGovernedBy(p.groupId) : []) : await this.owners.hostsGovernedByActor(p);
    if (filter.guests) {
      qb.andWhere('e."groupId" <> :g', { g: ownGroup }).andWhere('e."hostId" IN (:...governed)', { governed: governed?.length ? governed : [ownGroup] });
    } else if (governed?.length) qb.andWhere('(e."groupId" = :g OR e."hostId" IN (:...governed))', { g: ownGroup, governed });
    else if (!p.siteAdmin) qb.andWhere('e."groupId" = :g', { g: ownGroup });
    if (filter.hostId) qb.andWhere('e."hostId" = :h', { h: filter.hostId });
    if (filter.status) qb.andWhere('e.status = :s', { s: filter.status });
    else if (!filter.includeDestroyed) qb.andWhere('e.status <> :d', { d: EnvironmentStatus.DESTROYED });
    const [items, total] = await qb.orderBy('e."createdAt"', 'DESC').addOrderBy('e.id', 'DESC').take(limit).skip(offset).getManyAndCount();
    return { items: await presentEnvironments(this.dataSource, actor, items), total };
  }

  /** Runs a command inside a running environment (members of its group). */
  async exec(actor: Principal, id: string, command: string[]): Promise<ExecResult> {
    const env = await this.get(actor, id);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'run commands in this environment');
    if (env.status !== EnvironmentStatus.RUNNING) throw notRunning(env);
    if (!command.length) throw new BadInputError('command must not be empty');
    const agent = await this.agentOf(env);
    return agent.exec({ driver: env.driver, environmentId: env.id, command }, callContext(agent));
  }

  /**
   * Starts an interactive process in a running environment (members of its group, as `exec`):
   * directly on an in-process agent, as a session over the connection of a remote one;
   * UNSUPPORTED_OPERATION on an agent of a release without sessions or a driver without it.
   */
  async interactiveExec(actor: Principal, id: string, command: string[], options: { tty?: boolean; columns?: number; rows?: number }): Promise<InteractiveProcess> {
    const env = await this.get(actor, id);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'run commands in this environment');
    if (env.status !== EnvironmentStatus.RUNNING) throw notRunning(env);
    if (!Array.isArray(command) || !command.length || command.some((a) => typeof a !== 'string')) throw new BadInputError('command must be a non-empty array of strings');
    const agent = await this.agentOf(env);
    if (!agent.interactiveExec) throw new UnsupportedOperationError('interactive exec', `the agent of host ${env.hostId}`, 'it carries no interactive sessions');
    return agent.interactiveExec({ driver: env.driver, environmentId: env.id, command, ...options });
  }

  /**
   * Why a session the actor opened in an environment on `hostId` (`interactiveExec`, `console`) may
   * go on no longer: the actor may no longer run commands in it (gone from its sight, its role),
   * it was destroyed, left RUNNING or moved to another host. Undefined while it may go on, or when
   * that cannot be told now (an outage: the session is not cut for it).
   */
  async sessionLost(actor: Principal, id: string, hostId: string): Promise<RspError | undefined> {
    try {
      const env = await this.get(actor, id);
      policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'run commands in this environment');
      if (env.status === EnvironmentStatus.DESTROYED) return new NotFoundError('Environment', id, { reason: 'destroyed' });
      if (env.status !== EnvironmentStatus.RUNNING) return new ConflictError(`Environment ${env.name} is ${env.status}, not RUNNING: the session was closed`, { status: env.status });
      if (env.hostId !== hostId) return new ConflictError(`Environment ${env.name} moved to another host: the session was closed`, { hostId: env.hostId });
      return undefined;
    } catch (e) {
      return isRspError(e) && (e.category === 'NOT_FOUND' || e.category === 'FORBIDDEN') ? e : undefined;
    }
  }

  /**
   * Attaches to a running environment's console (a VM's serial console; members of its group, as
   * `exec`; through a remote agent as a session, as `interactiveExec`): UNSUPPORTED_OPERATION on an
   * agent of a release without sessions or a driver without consoles, CONFLICT while another
   * session is attached.
   */
  async console(actor: Principal, id: string): Promise<InteractiveProcess> {
    const env = await this.get(actor, id);
    policy.requireRole(actor, env.groupId, MemberRole.MEMBER, 'attach to the console of this environment');
    if (env.status !== EnvironmentStatus.RUNNING) throw notRunning(env);
    const agent = await this.agentOf(env);
    if (!agent.console) throw new UnsupportedOperationError('console', `the agent of host ${env.hostId}`, 'it carries no interactive sessions');
    return agent.console({ driver: env.driver, environmentId: env.id });
  }

  /**
   * The environment's console/stdout log from its driver (its group's members; the admins governing
   * its host see a guest's status and usage, not what it writes: FORBIDDEN): the last `tail` lines, those since `since`, or what follows `cursor` (from an
   * earlier read). CONFLICT while it is being created, rebuilt, moved or destroyed.
   */
  async readLog(actor: Principal, id: string, options: { tail?: number; since?: Date; cursor?: string }): Promise<LogRead> {
    const env = await this.logOf(actor, id);
    if (env.status === EnvironmentStatus.DESTROYED) throw new NotFoundError('Environment', id, { reason: 'destroyed' });
    if (options.tail !== undefined && (!Number.isInteger(options.tail) || options.tail < 0 || options.tail > MAX_LOG_TAIL)) throw new BadInputError(`tail must be a whole number of lines from 0 to ${MAX_LOG_TAIL}`, { tail: options.tail });
    if (LOG_UNSETTLED.has(env.status)) throw new ConflictError(`Environment ${env.name} is ${env.status}: its log can be read once that is done`, { status: env.status });
    const agent = await this.agentOf(env);
    const { tail, since, cursor } = options;
    return agent.environmentLog({ driver: env.driver, environmentId: env.id, ...(tail !== undefined ? { tail } : {}), ...(since ? { since: since.toISOString() } : {}), ...(cursor !== undefined ? { cursor } : {}) }, callContext(agent));
  }

  /**
   * Follows the log (see `LogFollower`): first the last `tail` lines, or what follows `cursor`,
   * then new text as it is written; who may see the environment is checked again at each read.
   */
  async followLog(actor: Principal, id: string, options: { tail?: number; cursor?: string }): Promise<LogFollower> {
    const env = await this.logOf(actor, id);
    if (env.status === EnvironmentStatus.DESTROYED) throw new NotFoundError('Environment', id, { reason: 'destroyed' });
    const tail = options.tail ?? DEFAULT_FOLLOW_TAIL;
    if (!Number.isInteger(tail) || tail < 0 || tail > MAX_LOG_TAIL) throw new BadInputError(`tail must be a whole number of lines from 0 to ${MAX_LOG_TAIL}`, { tail });
    return new LogFollower((from) => this.readLog(actor, id, from), options.cursor, tail);
  }

  /** The environment whose log the actor asks for: NOT_FOUND as `get`; FORBIDDEN for the admins governing its host (they know it is there, like for exec). */
  private async logOf(actor: Principal, id: string): Promise<EnvironmentEntity> {
    const env = await this.get(actor, id);
    policy.requireRole(actor, env.groupId, MemberRole.VIEWER, 'read the log of this environment');
    return env;
  }

  /** Usage counters of an environment, from its driver. */
  async stats(actor: Principal, id: string): Promise<EnvironmentStats> {
    const env = await this.get(actor, id);
    if (env.status !== EnvironmentStatus.RUNNING) throw notRunning(env);
    const agent = await this.agentOf(env);
    const stats = await agent.environmentStats({ driver: env.driver, environmentId: env.id }, callContext(agent));
    return { ...stats, at: new Date(stats.at) };
  }

  /**
   * Compares what the local agent's drivers report with the database and records the drift
   * (missing on the engine, state differs) instead of failing; environments left in a transient
   * status by a stopped gateway are settled from what the engine says.
   */
  async reconcile(): Promise<ReconcileReport> {
    const agent = this.agents.local;
    const report: ReconcileReport = { checked: 0, drifted: 0, unknown: [] };
    if (!agent) return report;
    const hosts = await this.dataSource.getRepository(HostEntity).findBy({ agent: agent.id });
    const envs = hosts.length ? await this.repo.findBy({ hostId: In(hosts.map((h) => h.id)), status: ACTIVE }) : [];
    for (const driver of (await agent.drivers()).filter((d) => d.available)) {
      const engine = new Map((await agent.listEnvironments({ driver: driver.name }).catch(() => [])).map((i) => [i.id, i]));
      const known = new Set<string>();
      for (const env of envs.filter((e) => e.driver === driver.name)) {
        known.add(env.id);
        report.checked += 1;
        const seen = engine.get(env.id);
        const drift = driftOf(env.status, seen?.state);
        const settled = settledStatus(env.status, seen?.state);
        if (drift) report.drifted += 1;
        if (drift !== env.drift || settled !== env.status) {
          if (!(await this.lifecycle.settle(env, { drift, status: settled }))) this.logger.info({ environment: env.id }, 'environment changed during reconciliation; left as it is now');
        }
      }
      for (const id of engine.keys()) if (!known.has(id)) report.unknown.push({ driver: driver.name, id });
    }
    if (report.drifted || report.unknown.length) this.logger.warn({ ...report }, 'environments differ from what the engines report');
    return report;
  }

  /**
   * When an agent (re)connects: the environments of its hosts left in a transient status
   * (CREATING, STARTING…) with no operation in flight on any gateway — their operation was lost
   * with a killed gateway or agent — are settled from what its engines report (running → RUNNING,
   * made → STOPPED, missing → FAILED). Environments whose operation still runs are left to it.
   * Returns the ids settled.
   */
  async settleAfterReconnect(agentId: string): Promise<string[]> {
    const agent = this.agents.get(agentId);
    if (!agent) return [];
    // One statement (with the other agents reconnecting meanwhile): the environments of its hosts left in a transient status.
    const stuck = await this.stuckOfAgents.load(agentId);
    if (!stuck.length) return [];
    const busy = new Set(
      (await this.dataSource.getRepository(OperationEntity).findBy({ targetId: In(stuck.map((e) => e.id)), state: In([OperationState.PENDING, OperationState.RUNNING]) })).map((o) => o.targetId),
    );
    const settled: string[] = [];
    const engines = new Map<string, Map<string, string>>();
    for (const env of stuck.filter((e) => !busy.has(e.id))) {
      if (!engines.has(env.driver)) {
        const listed = await agent.listEnvironments({ driver: env.driver }, callContext(agent)).catch(() => undefined);
        if (!listed) continue;
        engines.set(env.driver, new Map(listed.map((i) => [i.id, i.state])));
      }
      const status = settledStatus(env.status, engines.get(env.driver)!.get(env.id));
      if (await this.lifecycle.settle(env, { drift: env.drift, status })) settled.push(env.id);
    }
    if (settled.length) this.logger.warn({ agent: agentId, environments: settled }, 'settled environments a lost operation left in a transient status');
    return settled;
  }

  /** The drivers of a host's agent (default: this gateway's own), with what their probes found. */
  async drivers(actor: Principal, hostId?: string): Promise<DriverProbeReport[]> {
    policy.requireAuthenticated(actor);
    if (!hostId) return this.agents.local ? this.agents.local.drivers() : [];
    const host = await this.dataSource.getRepository(HostEntity).findOneBy({ id: hostId });
    if (!host) throw new NotFoundError('Host', hostId);
    return (await this.agents.forHost(host)).drivers();
  }

  /** The image, once its bits are stored; BAD_USER_INPUT before the upload. */
  private withContent(image: ImageEntity): ImageEntity & { digest: string } {
    if (!this.images.hasContent(image)) throw new BadInputError(`Image ${image.name}:${image.version} has no content yet: upload it first`, { imageId: image.id });
    return image as ImageEntity & { digest: string };
  }

  /** The image as agents fetch it: the artifact of the gateway's image store holding its bits (stored there on first use). */
  private async imageArtifact(image: ImageEntity & { digest: string }): Promise<ImageArtifact> {
    return { name: image.name, version: image.version, digest: image.digest, manifestId: await this.images.store.manifestOf(image.digest) };
  }

  /** The allocation asked for, checked: usable, of the group, on the host named if one is. */
  private async heldAllocation(actor: Principal, input: CreateEnvironment): ReturnType<PlacementService['heldFor']> {
    if (!this.placement) throw new RspError('UNAVAILABLE', 'This gateway places no allocations');
    const held = await this.placement.heldFor(actor, input.allocationId!, input.groupId);
    if (input.hostId && input.hostId !== held.allocation.hostId) throw new BadInputError(`Allocation ${held.allocation.id} is on host ${held.allocation.hostId}, not ${input.hostId}`, { allocationId: held.allocation.id, hostId: input.hostId });
    return held;
  }

  /**
   * New limits for a rebuild, checked like a create's: merged over the current ones, within the
   * environment's allocation when it runs on one; otherwise with what swaps its implicit claim
   * for one of the new limits (in the transaction that begins the rebuild).
   */
  private async resize(actor: Principal, env: EnvironmentEntity, host: StepHost, agent: HostAgent, asked: ResourceLimits): Promise<{ limits: ResourceLimits; alongside?: Alongside }> {
    const driver = (await agent.drivers()).find((d) => d.name === env.driver);
    const enforced = driver?.capabilities?.limits ?? [];
    const merged: ResourceLimits = { ...env.limits, ...Object.fromEntries(Object.entries(asked).filter(([, v]) => v !== undefined && v !== null)) };
    const held = env.allocationId && this.placement ? await this.placement.heldFor(actor, env.allocationId, env.groupId).catch(() => undefined) : undefined;
    const limits = held ? limitsWithin(merged, held.held, enforced, env.allocationId!) : merged;
    validateLimits(limits, enforced, env.driver, await this.dataSource.getRepository(ResourceEntity).findBy({ hostId: host.id }), host.hostname);
    const placement = this.placement;
    if (held || !placement) return { limits };
    const requestedBy = policy.requireAuthenticated(actor).name;
    return {
      limits,
      alongside: async (m) => {
        const released = await placement.releaseHeldWithin(m, { environmentId: env.id, allocationId: env.allocationId });
        const { after } = await placement.claimWithin(m, { groupId: env.groupId, hostId: env.hostId, wants: limitWants(limits), technology: env.technology, requestedBy, environmentId: env.id });
        return () => (released(), after());
      },
    };
  }

  /**
   * Records a new environment (CREATING) with its ZONE layer; with an allocation, the recording
   * transaction locks it and checks it is still usable and held by no other live environment
   * (CONFLICT otherwise); without one, the same transaction claims the capacity of its limits on
   * its host through placement (an implicit allocation: FORBIDDEN without a share, CONFLICT when
   * short), so nothing is recorded that is not claimed. Its operation (`operation`) is recorded in
   * the same transaction (one commit for all); `launch` starts its work once committed.
   */
  private async record(
    fields: NewEnvironment,
    hostLayerId: string | null,
    allocationId: string | null,
    requestedBy: string,
    operation: (env: EnvironmentEntity) => NewOperation,
    network: Pick<RecordOptions, 'assignAddress' | 'ports'> = {},
  ): Promise<{ environment: EnvironmentEntity; launch: (work: OperationWork) => OperationEntity }> {
    const placement = this.placement;
    let launch: ((work: OperationWork) => OperationEntity) | undefined;
    const environment = await this.lifecycle.record(fields, {
      ...network,
      hostLayerId,
      allocationId,
      // Its operation is recorded by the statement that inserts it.
      carry: (env, offset) => {
        const recording = this.operations.recordCarried(operation(env), offset);
        return { text: recording.text, params: recording.params, recorded: (row) => void (launch = recording.recorded(row)) };
      },
      after: async (m, env) => {
        const claimed = allocationId || !placement ? undefined : await placement.claimWithin(m, { groupId: env.groupId, hostId: env.hostId, wants: limitWants(env.limits), technology: env.technology, requestedBy, environmentId: env.id });
        return claimed?.after ?? (() => undefined);
      },
      before: allocationId
        ? async (m) => {
            await this.placement!.lockHeld(m, allocationId);
            const other = await m.getRepository(EnvironmentEntity).findOneBy({ allocationId, status: ACTIVE });
            if (other) throw new ConflictError(`Allocation ${allocationId} already holds environment ${other.name}`, { allocationId, environmentId: other.id });
          }
        : undefined,
    });
    return { environment, launch: launch! };
  }

  private async agentOf(env: EnvironmentEntity): Promise<HostAgent> {
    return this.agents.forHost(await this.dataSource.getRepository(HostEntity).findOneByOrFail({ id: env.hostId }));
  }

  /**
   * Who may act and whether it is an intervention: a MEMBER of the environment's group acts as
   * usual (null; a site admin of another group giving a reason intervenes); the admins governing
   * its host may only `stop`/`evict` (`owned`), and must say why. FORBIDDEN otherwise.
   */
  private async interventionOf(actor: Principal, env: EnvironmentEntity, owned: EnvironmentIntervention['action'] | null, reason: string | undefined, action: string): Promise<EnvironmentIntervention | null> {
    const p = policy.requireAuthenticated(actor);
    if (policy.isMember(p, env.groupId)) {
      policy.requireRole(p, env.groupId, MemberRole.MEMBER, action);
      return owned && p.groupId !== env.groupId && reason?.trim() ? this.interventionBy(p, owned, reason) : null;
    }
    if (!owned) {
      policy.requireRole(p, env.groupId, MemberRole.MEMBER, action);
      return null;
    }
    await this.owners.requireGovernsHost(p, env.hostId, action);
    if (!reason?.trim()) throw new BadInputError(`Say why you ${owned} an environment of another group: its group sees the reason`, { reason });
    return this.interventionBy(p, owned, reason);
  }

  private interventionBy(actor: Principal, action: EnvironmentIntervention['action'], reason: string): EnvironmentIntervention {
    return { byGroupId: actor.kind === 'token' ? actor.groupId : null, action, reason: reason.trim(), at: new Date().toISOString() };
  }

  /** Ends the step holding the environment; `alongside` runs in the same transaction and returns what to do after the commit. */
  private update(env: EnvironmentEntity, ending: EnvironmentEnding, alongside?: (m: EntityManager) => Promise<() => void>): Promise<void> {
    return this.lifecycle.end(env, ending, alongside);
  }
}

/** What to do about an environment that is not RUNNING: how it became so, by its status. */
const NOT_RUNNING_HINTS: Partial<Record<EnvironmentStatus, string>> = {
  [EnvironmentStatus.CREATED]: 'start it first (startEnvironment; rsp env start)',
  [EnvironmentStatus.STOPPED]: 'start it first (startEnvironment; rsp env start)',
  [EnvironmentStatus.FAILED]: 'see its last error (rsp env show), then start or rebuild it',
};

/** The CONFLICT of a call that needs the environment RUNNING, with what to do when there is something. */
function notRunning(env: Pick<EnvironmentEntity, 'name' | 'status'>): ConflictError {
  const hint = NOT_RUNNING_HINTS[env.status] ?? (TRANSIENT_STATUSES.has(env.status) ? 'wait for its operation to end' : undefined);
  return new ConflictError(`Environment ${env.name} is ${env.status}, not RUNNING${hint ? `: ${hint}` : ''}`, { status: env.status });
}

/** Picks the driver: the one asked for, or the host's first usable one of the image's technology. */
function pickDriver(reports: DriverProbeReport[], image: ImageEntity, asked: string | undefined, hostname: string): DriverProbeReport {
  const usable = reports.filter((r) => r.available);
  const driver = asked ? reports.find((r) => r.name === asked) : usable.find((r) => r.technology === image.technology);
  if (!driver) {
    throw new BadInputError(
      asked ? `Host ${hostname} has no driver ${asked}` : `Host ${hostname} has no usable driver for ${image.technology} (usable: ${usable.map((r) => `${r.name} (${r.technology})`).join(', ') || 'none'})`,
      { technology: image.technology, driver: asked },
    );
  }
  if (!driver.available) throw new RspError('UNAVAILABLE', `Driver ${driver.name} is not usable on host ${hostname}: ${driver.reason ?? 'unknown reason'}`, { driver: driver.name });
  if (driver.technology !== image.technology) throw new BadInputError(`Image ${image.name}:${image.version} is for ${image.technology}; driver ${driver.name} runs ${driver.technology}`);
  return driver;
}
