import type { DataSource } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import type { ImageStore } from '../artifacts/image-store';
import { TokenService } from '../auth/token-service';
import type { RspPubSub } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import { EnvironmentService } from './environment-service';
import { GroupService } from './group-service';
import { ImageService } from './image-service';
import { LayerService } from './layer-service';
import { MetricsService } from './metrics-service';
import { OfferService } from './offer-service';
import { OperationService } from './operation-service';
import { PlacementOptions, PlacementService } from './placement-service';
import { ResourceService } from './resource-service';
import { ShareService } from './share-service';
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
  groups: GroupService;
  sites: SiteService;
  resources: ResourceService;
  offers: OfferService;
  shares: ShareService;
  layers: LayerService;
  images: ImageService;
  environments: EnvironmentService;
  metrics: MetricsService;
  placement: PlacementService;
}

/** What services are built from. */
export interface ServiceDeps {
  dataSource: DataSource;
  pubSub: RspPubSub;
  logger: Logger;
  info: GatewayFacts;
  agents: AgentLink;
  imageStore: ImageStore;
  /** Events kept per subscriber before the oldest are dropped (default 100). */
  subscriberBuffer?: number;
  /** How placement decides (snapshot age, clock); defaults when absent. */
  placement?: PlacementOptions;
}

/** Builds every service of a gateway. */
export function createServices(deps: ServiceDeps): Services {
  const { dataSource } = deps;
  const operations = new OperationService(dataSource, deps.pubSub, deps.logger);
  const images = new ImageService(dataSource, deps.imageStore);
  const sites = new SiteService(dataSource);
  const placement = new PlacementService(dataSource, deps.placement, deps.pubSub);
  const environments = new EnvironmentService(dataSource, deps.agents, operations, images, deps.logger, deps.pubSub, placement);
  return {
    info: deps.info,
    operations,
    tokens: new TokenService(dataSource),
    groups: new GroupService(dataSource),
    sites,
    resources: new ResourceService(dataSource),
    offers: new OfferService(dataSource),
    shares: new ShareService(dataSource),
    layers: new LayerService(dataSource),
    images,
    environments,
    metrics: new MetricsService(dataSource, deps.pubSub, deps.agents, sites, environments, operations, deps.logger, deps.subscriberBuffer),
    placement,
  };
}
