import { ApolloServerPlugin, HeaderMap } from '@apollo/server';
import type { GatewayContext } from '../context';
import type { RequestLimits } from './request-limits';

/**
 * Applies `limits` to every operation Apollo runs (the fast `POST /graphql` path and the express
 * route alike) once the operation is known: anonymous introspection (403, FORBIDDEN) and the
 * caller's rate (429 with `Retry-After`, RATE_LIMITED). The shape limits come before Apollo,
 * see http-limits.ts.
 */
export function limitsPlugin(limits: RequestLimits): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation(rc) {
          const actor = rc.contextValue.actor;
          limits.checkIntrospection(rc.document, actor);
          if (rc.operation) await limits.checkRate(rc.operation.operation, { actor, address: rc.contextValue.clientAddress ?? 'unknown' }, () => new HeaderMap());
        },
      };
    },
  };
}
