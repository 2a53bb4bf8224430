import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { bearerSecret } from '../auth/bearer';
import { ANONYMOUS } from '../auth/principal';
import { isRspError, outageOf } from '../errors';
import type { GatewayMetrics } from '../metrics/prometheus';
import type { Services } from '../services';

/**
 * `GET /metrics`: the Prometheus text format, for a site-admin bearer token (the series name
 * hosts, groups and environments). 401 without a valid token, 403 for other tokens, 503 with
 * `Retry-After` while the database is unreachable.
 */
export function prometheusHandler(services: Services): RequestHandler {
  return async (req, res) => {
    try {
      const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
      const { contentType, body } = await services.metrics.prometheusText(actor ?? ANONYMOUS);
      res.type(contentType).send(body);
    } catch (e) {
      const outage = outageOf(e);
      if (outage) {
        res.status(503).set('retry-after', String(outage.retryAfterSeconds)).json({ error: { code: outage.category, message: outage.message } });
        return;
      }
      const code = isRspError(e) ? e.category : 'INTERNAL';
      const status = code === 'UNAUTHENTICATED' ? 401 : code === 'FORBIDDEN' ? 403 : 500;
      res.status(status).json({ error: { code, message: isRspError(e) ? e.message : 'internal error' } });
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
