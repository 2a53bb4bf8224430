import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { GraphQLError, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { DataSource } from 'typeorm';
import { WebSocketServer } from 'ws';
import { buildGatewaySchema } from '../../schema/build-schema';
import type { GatewayConfig } from '../config/config';
import type { GatewayContext } from '../context';
import { formatGraphQLError } from '../errors';
import { createMemoryPubSub, RspPubSub } from '../events/pubsub';
import { createLogger, Logger } from '../logging/logger';
import { databaseTarget, describeTarget, openDataSource, runMigrations } from '../persistence/data-source';
import { createServices, Services } from '../services';
import { RSP_VERSION } from '../version';
import { createHttpApp, httpErrorHandler, requestIdOf } from './http-app';
import { requestLoggingPlugin } from './request-logging';

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` */
  url: string;
  /** `http://host:port/graphql` */
  graphqlUrl: string;
  /** `ws://host:port/graphql` */
  websocketUrl: string;
  config: GatewayConfig;
  logger: Logger;
  dataSource: DataSource;
  services: Services;
  schema: GraphQLSchema;
  /** Stops accepting work, waits for running operations and closes the database. */
  close(): Promise<void>;
}

/** Options of `startGateway` beyond the config. */
export interface StartOptions {
  logger?: Logger;
  /** Run pending migrations before serving (default true). */
  migrate?: boolean;
}

/**
 * Starts a gateway: opens the database (PostgreSQL or embedded PGlite), migrates it, builds the
 * federated schema, and serves GraphQL over HTTP and graphql-ws on one port.
 */
export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config);
  const target = databaseTarget(config);
  logger.info({ database: describeTarget(target) }, 'opening database');
  const dataSource = await openDataSource(target, logger);
  try {
    if (options.migrate !== false) await runMigrations(dataSource, logger);
    const pubSub: RspPubSub = createMemoryPubSub();
    const services = createServices({
      dataSource,
      pubSub,
      logger,
      info: { site: config.siteName, version: RSP_VERSION, database: target.kind },
    });
    const schema = await buildGatewaySchema(pubSub);
    return await serve(config, logger, dataSource, services, schema);
  } catch (e) {
    await dataSource.destroy().catch(() => undefined);
    throw e;
  }
}

async function serve(config: GatewayConfig, logger: Logger, dataSource: DataSource, services: Services, schema: GraphQLSchema): Promise<Gateway> {
  const app = createHttpApp({ logger, dataSource, graphiql: config.graphiql });
  const httpServer: Server = createServer(app);
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });

  const contextFor = (requestId: string): GatewayContext => ({
    requestId,
    logger: logger.child({ requestId }),
    services,
  });

  const wsCleanup = useServer<Record<string, unknown>, { requestId: string }>(
    {
      schema,
      context: (ctx) => contextFor(ctx.extra.requestId ?? 'ws'),
      onConnect: (ctx) => {
        ctx.extra.requestId = requestIdOf(ctx.extra.request);
        return true;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!('errors' in result) || !result.errors?.length) return result;
        return {
          ...result,
          errors: result.errors.map((err) => formatGraphQLError(err.toJSON(), err, logger) as unknown as GraphQLError),
        };
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<GatewayContext>({
    schema,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, logger),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginInlineTraceDisabled(),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
      requestLoggingPlugin(),
    ],
  });
  await apollo.start();

  app.use(
    '/graphql',
    expressMiddleware(apollo, { context: async ({ res }) => contextFor(res.locals.requestId as string) }),
  );
  app.use(httpErrorHandler(logger));

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    websocketUrl: `ws://${host}:${port}/graphql`,
    config,
    logger,
    dataSource,
    services,
    schema,
    close: () =>
      (closing ??= (async () => {
        await apollo.stop();
        await services.operations.drain();
        await dataSource.destroy();
        logger.info('gateway stopped');
      })()),
  };
}
