import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { buildSchema, GraphQLError } from 'graphql';
import { createAuditLog } from '../../../plugins/examples/audit-log';
import { toApolloPlugin, type GatewayPlugin } from '../../../plugins';

interface Ctx {
  requestId: string;
}

const schema = buildSchema(`
  type Query { hello: String }
  type Mutation { rename(name: String!): String }
`);
const rootValue = {
  hello: () => 'world',
  rename: ({ name }: { name: string }) => {
    if (name === 'bad') throw new GraphQLError('bad name', { extensions: { code: 'BAD_USER_INPUT' } });
    return name;
  },
};

async function serverWith(plugins: GatewayPlugin<Ctx>[], onHookError?: (plugin: string, hook: string, error: unknown) => void) {
  const server = new ApolloServer<Ctx>({ schema, rootValue, plugins: [toApolloPlugin(plugins, { onHookError })] });
  await server.start();
  return server;
}

function singleResult(response: Awaited<ReturnType<ApolloServer<Ctx>['executeOperation']>>) {
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return response.body.singleResult;
}

describe('toApolloPlugin', () => {
  test('hooks are called in order with the operation, its type, errors and duration', async () => {
    const calls: string[] = [];
    const plugin: GatewayPlugin<Ctx> = {
      name: 'recorder',
      onServerStart: () => void calls.push('start'),
      onServerStop: () => void calls.push('stop'),
      onRequest: (info) => void calls.push(`request ${info.operationName} ${info.context.requestId}`),
      onOperationStarted: (info) => void calls.push(`operation ${info.operationType} ${info.operationName}`),
      onError: (info) => void calls.push(`error ${info.errors.map((e) => e.message).join()}`),
      onResponse: (info) => void calls.push(`response ${info.operationType} errors=${info.errors.length} timed=${info.durationMs >= 0}`),
    };
    const server = await serverWith([plugin]);
    await server.executeOperation({ query: 'query Greet { hello }', operationName: 'Greet' }, { contextValue: { requestId: 'r1' } });
    await server.executeOperation({ query: 'mutation Rename { rename(name: "bad") }' }, { contextValue: { requestId: 'r2' } });
    await server.stop();
    expect(calls).toEqual([
      'start',
      'request Greet r1',
      'operation query Greet',
      'response query errors=0 timed=true',
      'request undefined r2',
      'operation mutation Rename',
      'error bad name',
      'response mutation errors=1 timed=true',
      'stop',
    ]);
  });

  test('onOperationStarted can refuse an operation; the error reaches the caller', async () => {
    const server = await serverWith([{
      name: 'read-only',
      onOperationStarted: (info) => {
        if (info.operationType === 'mutation') throw new GraphQLError('this gateway is read-only', { extensions: { code: 'FORBIDDEN' } });
      },
    }]);
    const result = singleResult(await server.executeOperation({ query: 'mutation { rename(name: "x") }' }, { contextValue: { requestId: 'r' } }));
    expect(result.errors).toEqual([expect.objectContaining({ message: 'this gateway is read-only', extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
    expect(result.data).toBeUndefined();
    await server.stop();
  });

  test('a failing observer hook is reported, and the response is unharmed', async () => {
    const reported: string[] = [];
    const server = await serverWith(
      [{ name: 'clumsy', onResponse: () => { throw new Error('disk full'); } }],
      (plugin, hook, error) => reported.push(`${plugin}.${hook}: ${(error as Error).message}`),
    );
    const result = singleResult(await server.executeOperation({ query: '{ hello }' }, { contextValue: { requestId: 'r' } }));
    expect(result.data).toEqual({ hello: 'world' });
    expect(reported).toEqual(['clumsy.onResponse: disk full']);
    await server.stop();
  });
});

describe('example audit-log plugin', () => {
  test('records mutations (not queries) with outcome and request id, as JSON lines', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsp-audit-'));
    const file = join(dir, 'audit.jsonl');
    const audit = createAuditLog(file);
    const server = await serverWith([audit]);
    await server.executeOperation({ query: '{ hello }' }, { contextValue: { requestId: 'q' } });
    await server.executeOperation({ query: 'mutation Ok { rename(name: "a") }' }, { contextValue: { requestId: 'm1' } });
    await server.executeOperation({ query: 'mutation Bad { rename(name: "bad") }' }, { contextValue: { requestId: 'm2' } });
    await server.stop();
    expect(audit.entries()).toEqual([
      expect.objectContaining({ operationName: 'Ok', requestId: 'm1', ok: true, errorCodes: [] }),
      expect.objectContaining({ operationName: 'Bad', requestId: 'm2', ok: false, errorCodes: ['BAD_USER_INPUT'] }),
    ]);
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { operationName: string });
    expect(lines.map((l) => l.operationName)).toEqual(['Ok', 'Bad']);
    await rm(dir, { recursive: true, force: true });
  });
});
