import type { GatewayPlugin } from '../../plugins/api';
import type { GatewayContext } from '../context';
import { graphQLErrorCode } from '../errors';

/**
 * The built-in request log, as a gateway plugin like any other: each GraphQL request once it is
 * answered — operation, type, duration and the error codes its caller saw — on the request's logger.
 */
export const requestLoggingPlugin: GatewayPlugin<GatewayContext> = {
  name: 'rsp-request-log',
  onResponse({ context, operationName, operationType, errors, durationMs }) {
    const codes = errors.map(graphQLErrorCode);
    context.logger[codes.length ? 'info' : 'debug'](
      { operationName, operationType, ms: Math.round(durationMs * 10) / 10, errors: codes.length ? codes : undefined },
      'graphql request',
    );
  },
};
