import type { ApolloServerPlugin } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { OutageError, outageOf } from '../errors';

/** HTTP status of an answer to a request that failed because a dependency was unreachable. */
export const OUTAGE_STATUS = 503;

/** The GraphQL-shaped 503 answer to an outage, with its `Retry-After` header. */
export function outageAnswer(outage: OutageError): { status: number; headers: Record<string, string>; body: unknown } {
  return {
    status: OUTAGE_STATUS,
    headers: { 'retry-after': String(outage.retryAfterSeconds) },
    body: { errors: [{ message: outage.message, extensions: { code: outage.category, details: outage.details } }] },
  };
}

/**
 * The error a GraphQL context function throws when building the context met an outage (the token
 * lookup could not reach the database): Apollo answers it with 503 and `Retry-After`. Any other
 * error is returned unchanged.
 */
export function contextOutage(error: unknown): unknown {
  const outage = outageOf(error);
  if (!outage) return error;
  // Apollo takes the answer's status and headers from `extensions.http` (its headers a Map).
  const http = { status: OUTAGE_STATUS, headers: new HeaderMap([['retry-after', String(outage.retryAfterSeconds)]]) };
  return new GraphQLError(outage.message, { originalError: outage, extensions: { http } as Record<string, unknown> });
}

/**
 * Answers 503 with `Retry-After` when a GraphQL response carries an outage (`UNAVAILABLE` with a
 * `dependency`): the database or Redis was unreachable while the operation ran, and a retry may
 * succeed. Other `UNAVAILABLE` errors (a host agent not answering) keep their status.
 */
export function outageStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          let retryAfter = 0;
          for (const e of response.body.singleResult.errors ?? []) {
            const details = e.extensions?.details as { dependency?: unknown; retryAfterSeconds?: unknown } | undefined;
            if (e.extensions?.code === 'UNAVAILABLE' && details?.dependency && typeof details.retryAfterSeconds === 'number') retryAfter = Math.max(retryAfter, details.retryAfterSeconds);
          }
          if (!retryAfter) return;
          response.http.status = OUTAGE_STATUS;
          response.http.headers.set('retry-after', String(retryAfter));
        },
      };
    },
  };
}
