import type { DataSource } from 'typeorm';
import type { RspPubSub } from '../events/pubsub';
import type { Logger } from '../logging/logger';
import { OperationService } from './operation-service';

export * from './operation-service';

/** The services of one gateway: where the rules live. Resolvers reach them through the context. */
export interface Services {
  info: GatewayFacts;
  operations: OperationService;
}

/** What this gateway is. */
export interface GatewayFacts {
  site: string;
  version: string;
  database: 'postgres' | 'pglite';
}

/** What services are built from. */
export interface ServiceDeps {
  dataSource: DataSource;
  pubSub: RspPubSub;
  logger: Logger;
  info: GatewayFacts;
}

/** Builds every service of a gateway. */
export function createServices(deps: ServiceDeps): Services {
  return {
    info: deps.info,
    operations: new OperationService(deps.dataSource, deps.pubSub, deps.logger),
  };
}
