import type { Principal } from './auth/principal';
import type { Logger } from './logging/logger';
import type { SubscriptionSocket } from './server/shared-execution';
import type { Services } from './services';

/** What every resolver receives: who asks, the services, and a logger bound to the request. */
export interface GatewayContext {
  requestId: string;
  actor: Principal;
  logger: Logger;
  services: Services;
  /** The client's address (see limits/client-address.ts): the key of its per-address limits. */
  clientAddress?: string;
  /** Over graphql-ws: the subscription and its socket (live events are written straight to it). */
  subscription?: SubscriptionSocket;
}
