import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { bearerSecret } from '../auth/bearer';
import { ANONYMOUS } from '../auth/principal';
import { isRspError, outageOf } from '../errors';
import type { Logger } from '../logging/logger';
import type { GatewayMetrics } from '../metrics/prometheus';
import type { Services } from '../services';

/**
 * `GET /metrics`: the Prometheus text format, for a site-admin bearer token (the series name
 * hosts, groups and environments). Refusals are GraphQL-shaped, as on the other routes: 401
 * UNAUTHENTICATED without a valid token, 403 FORBIDDEN for other tokens, 503 UNAVAILABLE with
 * `Retry-After` while the database is unreachable; anything else is logged under the request id
 * and answered 500 INTERNAL_SERVER_ERROR naming only that id.
 */
export function prometheusHandler(services: Services, logger: Logger): RequestHandler {
  return async (req, res) => {
    const refuse = (status: number, code: string, message: string) => void res.status(status).json({ errors: [{ message, extensions: { code } }] });
    try {
      const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
      const { contentType, body } = await services.metrics.prometheusText(actor ?? ANONYMOUS);
      res.type(contentType).send(body);
    } catch (e) {
      const outage = outageOf(e);
      if (outage) {
        res.set('retry-after', String(outage.retryAfterSeconds));
        return refuse(503, outage.category, outage.message);
      }
      if (isRspError(e) && (e.category === 'UNAUTHENTICATED' || e.category === 'FORBIDDEN')) return refuse(e.category === 'UNAUTHENTICATED' ? 401 : 403, e.category, e.message);
      const requestId = res.locals.requestId as string | undefined;
      logger.error({ err: e, requestId }, 'prometheus metrics failed');
      refuse(500, 'INTERNAL_SERVER_ERROR', `Internal error (request ${requestId})`);
    }
  };
}

/** Counts GraphQL requests over HTTP (by operation type) and those answered with errors. */
export function requestCountingPlugin(metrics: GatewayMetrics): ApolloServerPlugin {
  return {
    async requestDidStart() {
      let errored = false;
      return {
        async didResolveOperation(rc) {
          metrics.requests.inc({ operation: rc.operation?.operation ?? 'unknown' });
        },
        async didEncounterErrors(rc) {
          if (!rc.operation) metrics.requests.inc({ operation: 'invalid' });
          if (!errored) metrics.errors.inc();
          errored = true;
        },
      };
    },
  };
}
