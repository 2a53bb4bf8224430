import type { ApolloServerPlugin, BaseContext, GraphQLRequestContext } from '@apollo/server';
import type { GatewayPlugin, OperationType, RequestInfo } from './api';

/** Options of `toApolloPlugin`. */
export interface ApolloAdapterOptions {
  /** Called when a hook other than `onOperationStarted` throws; default: a warning on Apollo's logger. */
  onHookError?: (plugin: string, hook: string, error: unknown) => void;
}

/**
 * Maps gateway plugins onto one Apollo Server plugin: `onServerStart`/`onServerStop` on
 * serverWillStart/serverWillStop, `onRequest` on requestDidStart, `onOperationStarted` on
 * didResolveOperation, `onError` on didEncounterErrors, `onResponse` on willSendResponse.
 */
export function toApolloPlugin<TContext extends BaseContext>(plugins: readonly GatewayPlugin<TContext>[], options: ApolloAdapterOptions = {}): ApolloServerPlugin<TContext> {
  const run = async (hook: 'onRequest' | 'onError' | 'onResponse' | 'onServerStart' | 'onServerStop', report: (plugin: string, error: unknown) => void, call: (plugin: GatewayPlugin<TContext>) => unknown) => {
    for (const plugin of plugins) {
      if (!plugin[hook]) continue;
      try {
        await call(plugin);
      } catch (e) {
        (options.onHookError ?? report)(plugin.name, hook, e);
      }
    }
  };
  return {
    async serverWillStart({ logger }) {
      const warn = (plugin: string, error: unknown) => logger.warn(`gateway plugin ${plugin}: onServerStart failed: ${message(error)}`);
      await run('onServerStart', warn, (p) => p.onServerStart!());
      return {
        async serverWillStop() {
          await run('onServerStop', (plugin, error) => logger.warn(`gateway plugin ${plugin}: onServerStop failed: ${message(error)}`), (p) => p.onServerStop!());
        },
      };
    },

    async requestDidStart(start) {
      const started = process.hrtime.bigint();
      const warn = (plugin: string, error: unknown) => start.logger.warn(`gateway plugin ${plugin} failed: ${message(error)}`);
      const base = (rc: GraphQLRequestContext<TContext>): RequestInfo<TContext> => ({
        operationName: rc.operationName ?? rc.request.operationName ?? undefined,
        query: rc.request.query,
        variables: rc.request.variables,
        context: rc.contextValue,
      });
      let operationType: OperationType | undefined;
      await run('onRequest', warn, (p) => p.onRequest!(base(start)));
      return {
        async didResolveOperation(rc) {
          operationType = rc.operation?.operation;
          if (!operationType) return;
          for (const plugin of plugins) await plugin.onOperationStarted?.({ ...base(rc), operationType });
        },
        async didEncounterErrors(rc) {
          await run('onError', warn, (p) => p.onError!({ ...base(rc), errors: rc.errors }));
        },
        async willSendResponse(rc) {
          const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
          await run('onResponse', warn, (p) => p.onResponse!({ ...base(rc), operationType, errors: rc.errors ?? [], durationMs }));
        },
      };
    },
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
