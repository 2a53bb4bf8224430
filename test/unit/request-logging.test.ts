import { GraphQLError } from 'graphql';
import pino from 'pino';
import { requestLoggingPlugin } from '../../gateway/server/request-logging';
import type { GatewayContext } from '../../gateway/context';

test('the request log is a gateway plugin that logs each answered request with its error codes', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const context = { logger } as unknown as GatewayContext;
  await requestLoggingPlugin.onResponse!({ context, operationName: 'ok', operationType: 'query', errors: [], durationMs: 1.234 });
  await requestLoggingPlugin.onResponse!({ context, operationName: 'bad', operationType: 'mutation', errors: [new GraphQLError('x', { extensions: { code: 'FORBIDDEN' } })], durationMs: 2 });
  expect(lines.map(({ level, operationName, operationType, ms, errors, msg }) => ({ level, operationName, operationType, ms, errors, msg }))).toEqual([
    { level: 20, operationName: 'ok', operationType: 'query', ms: 1.2, errors: undefined, msg: 'graphql request' },
    { level: 30, operationName: 'bad', operationType: 'mutation', ms: 2, errors: ['FORBIDDEN'], msg: 'graphql request' },
  ]);
});
