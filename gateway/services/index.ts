import type { DataSource } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import type { ImageStore } from '../artifacts/image-store';
import { ImageImport } from '../peering/image-import';
import { EnvironmentTransfer } from '../peering/environment-transfer';
import { Peering } from '../peering/peering';
import { PeerStore } from '../peering/peer-store';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { AgentCredentialService } from '../auth/agent-credential-service';
import { TokenService } from '../auth/token-service';
import { EnvironmentLifecycle } from '../environments';
import { GroupRetirement, HostRetirement, ImageRetirement } from '../retirement';
import { OrphanService } from '../orphans';
import type { RspPubSub } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import { shareInventoryChanges } from '../placement/inventory-changes';
import type { GroupKeys } from '../replication/group-keys';
import { StorageQuotas } from '../storage-quotas/storage-quotas';
import { EnvironmentService } from './environment-service';
import { GroupService } from './group-service';
import { FailoverService } from './failover-service';
import { MigrationService } from './migration-service';
import { AgentConnectionService } from './agent-connection-service';
import { AgentHeartbeats } from './agent-heartbeats';
import { DEFAULT_DETECTOR_SETTINGS, type DetectorSettings } from './failure-detector';
import { HostHealthService } from './host-health-service';
import { HostFactsService } from './host-facts-service';
import { ImageService } from './image-service';
import { LayerService } from './layer-service';
import { MetricsService } from './metrics-service';
import { OfferService } from './offer-service';
import { OperationService } from './operation-service';
import { PlacementOptions, PlacementService } from './placement-service';
import { SnapshotService } from '../snapshots/snapshot-service';
import { ResourceService } from './resource-service';
import { ShareService } from './share-service';
import { DEFAULT_REPLICATION_SETTINGS, ReplicationSettings } from '../replication/settings';
import { ReplicationService } from './replication-service';
import { SiteService } from './site-service';

export * from './operation-service';

/** What this gateway is. */
export interface GatewayFacts {
  site: string;
  version: string;
  database: 'postgres' | 'pglite';
}

/** The services of one gateway: where the rules live. Resolvers reach them through the context. */
export interface Services {
  info: GatewayFacts;
  operations: OperationService;
  tokens: TokenService;
  /** Host agents' join tokens and credentials. */
  agentCredentials: AgentCredentialService;
  groups: GroupService;
  /** Groups' storage quotas of the gateway's stores: usage, and reservations of transfers. */
  storageQuotas: StorageQuotas;
  sites: SiteService;
  /** Host agents' facts: hosts' technologies and resource inventories filled from them. */
  hostFacts: HostFactsService;
  resources: ResourceService;
  offers: OfferService;
  shares: ShareService;
  layers: LayerService;
  images: ImageService;
  environments: EnvironmentService;
  metrics: MetricsService;
  placement: PlacementService;
  /** Heartbeats, failure detection, fencing and the split-brain guard. */
  health: HostHealthService;
  /** Host agents' connections (`agent_connection`), for `Host.agentConnection`. */
  agentConnections: AgentConnectionService;
  replication: ReplicationService;
  /** Environments' snapshots: taken, rolled back to, deleted, with their retention. */
  snapshots: SnapshotService;
  /** Restarts environments of DOWN hosts elsewhere from their newest replica. */
  failover: FailoverService;
  /** Moves environments between hosts (shuffle), reporting the downtime. */
  migration: MigrationService;
  /** Draining and deleting hosts, deleting sites, images and groups. */
  retirement: { hosts: HostRetirement; images: ImageRetirement; groups: GroupRetirement };
  /** Images fetched by digest from peer sites. */
  imageImport: ImageImport;
  /** This site's store as other sites' replication target. */
  peerStore: PeerStore;
  /** The other sites this site may call, and the tokens they issued, sealed. */
  peering: Peering;
  /** Environments copied or migrated to another site. */
  environmentTransfer: EnvironmentTransfer;
  /** Objects RSP made on an engine that the database does not know: found on each agent's connection, removed on request. */
  orphans: OrphanService;
}

/** What services are built from. */
export interface ServiceDeps {
  dataSource: DataSource;
  /** This gateway's id, recorded on the operations it runs (see `OperationService.failAbandoned`). */
  gatewayId?: string;
  pubSub: RspPubSub;
  logger: Logger;
  info: GatewayFacts;
  agents: AgentLink;
  imageStore: ImageStore;
  /** Bytes each group may keep in the gateway's stores (`RSP_GROUP_STORAGE_BYTES`); undefined: no limit. */
  groupStorageBytes?: number;
  /** Events kept per subscriber before the oldest are dropped (default 100). */
  subscriberBuffer?: number;
  /** The host record that is this machine, by id or hostname (default: this machine's hostname). */
  localHost?: string;
  /** How placement decides (snapshot age, clock); defaults when absent. */
  placement?: PlacementOptions;
  /** Heartbeat interval and DOWN threshold; defaults when absent. */
  health?: DetectorSettings;
  /** Where replicas' bits live. */
  artifactStore: ArtifactStore;
  /** The group keys replicas are encrypted with. */
  groupKeys: GroupKeys;
  /** How replication behaves; defaults when absent. */
  replication?: ReplicationSettings;
  /** The other sites this site may call (`RSP_PEER_SITES`) and its peer token key; absent: none. */
  peering?: Peering;
}

/** Builds every service of a gateway. */
export function createServices(deps: ServiceDeps): Services {
  const { dataSource } = deps;
  const operations = new OperationService(dataSource, deps.pubSub, deps.logger, deps.gatewayId ?? null);
  const storageQuotas = new StorageQuotas(dataSource, deps.groupStorageBytes, deps.gatewayId ?? null);
  const images = new ImageService(dataSource, deps.imageStore, storageQuotas);
  const beats = new AgentHeartbeats(deps.health ?? DEFAULT_DETECTOR_SETTINGS, (agentId) => deps.agents.get(agentId) !== undefined);
  // An agent that leaves this gateway is no longer live here: it is heard again on its next beat.
  deps.agents.onChange((agentId, connected) => connected || beats.forget(agentId));
  const sites = new SiteService(
    dataSource,
    beats,
    deps.agents.localId,
    async (agentId) => (await deps.agents.soon(agentId)) !== undefined,
    (agentId) => deps.agents.reachOf(agentId) === 'in-process',
  );
  // Inventory writes of this replica reach the others' placement pictures, and theirs this one's.
  shareInventoryChanges(dataSource, deps.pubSub);
  const placement = new PlacementService(dataSource, deps.placement, deps.pubSub);
  const lifecycle = new EnvironmentLifecycle(dataSource, deps.pubSub);
  const environments = new EnvironmentService(dataSource, deps.agents, operations, images, deps.logger, lifecycle, placement);
  const snapshots = new SnapshotService(dataSource, deps.agents, operations, environments, lifecycle, deps.logger, placement);
  const layers = new LayerService(dataSource);
  const metrics = new MetricsService(dataSource, deps.pubSub, deps.agents, sites, environments, operations, deps.logger, deps.subscriberBuffer, deps.localHost, deps.info.database);
  const health = new HostHealthService(dataSource, deps.agents, deps.pubSub, metrics.alerts, deps.logger, beats.settings, beats);
  const peering = deps.peering ?? Peering.none();
  const replication = new ReplicationService(dataSource, deps.agents, operations, layers, deps.artifactStore, deps.groupKeys, deps.logger, deps.pubSub, lifecycle, placement, storageQuotas, deps.replication ?? DEFAULT_REPLICATION_SETTINGS, metrics.alerts, snapshots, peering);
  const failover = new FailoverService(dataSource, deps.agents, operations, replication, metrics.alerts, deps.logger, lifecycle);
  health.useFailover(failover);
  const shares = new ShareService(dataSource, deps.pubSub);
  const migration = new MigrationService(dataSource, deps.agents, operations, environments, replication, deps.logger, lifecycle);
  const tokens = new TokenService(dataSource, deps.pubSub);
  return {
    info: deps.info,
    operations,
    tokens,
    agentCredentials: new AgentCredentialService(dataSource, deps.pubSub),
    groups: new GroupService(dataSource),
    storageQuotas,
    sites,
    hostFacts: new HostFactsService(dataSource, sites, deps.agents, deps.logger),
    resources: new ResourceService(dataSource),
    offers: new OfferService(dataSource, shares, deps.pubSub),
    shares,
    layers,
    images,
    imageImport: new ImageImport(dataSource, images, deps.logger, peering),
    peering,
    environmentTransfer: new EnvironmentTransfer({ dataSource, operations, stores: replication.stores, peering, logger: deps.logger }, environments),
    peerStore: new PeerStore(dataSource, deps.artifactStore, storageQuotas, deps.logger, (digest) => deps.imageStore.has(digest)),
    environments,
    metrics,
    placement,
    health,
    agentConnections: new AgentConnectionService(dataSource, deps.gatewayId ?? 'embedded', deps.logger),
    replication,
    snapshots,
    failover,
    migration,
    retirement: {
      hosts: new HostRetirement(dataSource, deps.agents, operations, migration, deps.logger),
      images: new ImageRetirement(dataSource, images, deps.imageStore),
      groups: new GroupRetirement(dataSource, operations, environments, placement, replication, deps.logger, tokens, deps.pubSub),
    },
    orphans: new OrphanService(dataSource, deps.agents, deps.logger),
  };
}
