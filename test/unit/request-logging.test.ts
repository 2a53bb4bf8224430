import { GraphQLError, locatedError } from 'graphql';
import { QueryFailedError } from 'typeorm';
import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../../gateway/errors';
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

test('the request log records the code each error was answered with, not INTERNAL_SERVER_ERROR for every raised error', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const context = { logger } as unknown as GatewayContext;
  const raised = (original: Error) => locatedError(original, undefined, ['field']);
  const errors = [
    raised(new ForbiddenError('not yours')),
    raised(new UnauthenticatedError()),
    raised(new NotFoundError('Environment', 'e1')),
    raised(new QueryFailedError('SELECT 1', [], Object.assign(new Error('duplicate key'), { code: '23505' }))),
    raised(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
    new GraphQLError('Variable "$id" got invalid value'),
    raised(new TypeError('x is undefined')),
  ];
  await requestLoggingPlugin.onResponse!({ context, operationName: 'many', operationType: 'query', errors, durationMs: 3 });
  expect(lines[0]!.errors).toEqual(['FORBIDDEN', 'UNAUTHENTICATED', 'NOT_FOUND', 'CONFLICT', 'UNAVAILABLE', 'BAD_USER_INPUT', 'INTERNAL_SERVER_ERROR']);
});
