import type { Principal } from './auth/principal';
import type { Logger } from './logging/logger';
import type { Services } from './services';

/** What every resolver receives: who asks, the services, and a logger bound to the request. */
export interface GatewayContext {
  requestId: string;
  actor: Principal;
  logger: Logger;
  services: Services;
}
