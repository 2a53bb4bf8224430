import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context';

/** Logs each GraphQL request once it is answered: operation, duration, error codes. */
export function requestLoggingPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operationName, response, errors }) {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const codes = (errors ?? []).map((e) => e.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
          const body = response.body.kind === 'single' ? response.body.singleResult : undefined;
          contextValue.logger[codes.length ? 'info' : 'debug'](
            { operationName: operationName ?? undefined, ms: Math.round(ms * 10) / 10, errors: codes.length ? codes : undefined, partial: body?.data != null && codes.length > 0 },
            'graphql request',
          );
        },
      };
    },
  };
}
