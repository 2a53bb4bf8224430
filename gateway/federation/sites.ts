import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Subschema } from '@graphql-tools/delegate';
import { buildGraphQLWSExecutor } from '@graphql-tools/executor-graphql-ws';
import type { ExecutionRequest, Executor } from '@graphql-tools/utils';
import { mapSchema, MapperKind } from '@graphql-tools/utils';
import { buildSchema, GraphQLSchema, isNonNullType } from 'graphql';
import type { FederationConfig } from './config';
import type { FederationContext } from './context';
import { sharedSubscriptions } from './shared-subscriptions';
import { siteHttpExecutor } from './site-http';

/** How long the federation waits for one site's answer before counting the site unavailable. */
export const SITE_TIMEOUT_MS = 30_000;

/**
 * The schema every member site serves (the committed schema.graphql of this version of RSP), its
 * query fields made nullable: a field whose site is down is null with an error naming the site,
 * and the other fields of the request keep their data.
 */
export function siteSchema(): GraphQLSchema {
  // gateway/federation (ts) or dist/gateway/federation (built): the file is at the repository root.
  const file = [join(__dirname, '..', '..', 'schema.graphql'), join(__dirname, '..', '..', '..', 'schema.graphql')].find((f) => existsSync(f));
  if (!file) throw new Error(`schema.graphql not found above ${__dirname}`);
  return mapSchema(buildSchema(readFileSync(file, 'utf8'), { assumeValidSDL: true }), {
    [MapperKind.QUERY_ROOT_FIELD]: (config) => ({ ...config, type: isNonNullType(config.type) ? config.type.ofType : config.type }),
  });
}

/**
 * One subschema per member site, named after it: queries and mutations go over HTTP, subscriptions
 * over graphql-ws (one socket per site and linked group, opened on the first subscription, closed
 * a while after the last), each with the token the site issued for the caller's group, so each
 * site's own authorization decides what it answers. Identical subscriptions of one linked group
 * share one subscription at the site (sharedSubscriptions). `close` ends the kept-alive HTTP connections.
 */
export function siteSubschemas(config: FederationConfig, schema: GraphQLSchema, timeoutMs = SITE_TIMEOUT_MS): { subschemas: Subschema[]; close(): void } {
  const closers: Array<() => void> = [];
  const subschemas = config.sites.map((site) => {
    const tokenOf = (request?: ExecutionRequest) => (request?.context as FederationContext | undefined)?.group.links[site.name];
    const http = siteHttpExecutor({
      endpoint: site.url,
      timeoutMs,
      headers: (request): Record<string, string> => {
        const token = tokenOf(request);
        return token ? { authorization: `Bearer ${token}` } : {};
      },
    });
    closers.push(http.close);
    const sockets = new Map<string, Executor>();
    const ws = (token: string): Executor => {
      let executor = sockets.get(token);
      if (!executor) {
        executor = buildGraphQLWSExecutor({ url: site.url.replace(/^http/, 'ws'), lazy: true, lazyCloseTimeout: 5_000, connectionParams: { authorization: `Bearer ${token}` } }) as Executor;
        sockets.set(token, executor);
      }
      return executor;
    };
    const subscribe = sharedSubscriptions((request) => ws(tokenOf(request) ?? '')(request), (request) => tokenOf(request) ?? '');
    const executor: Executor = (request) => (request.operationType === 'subscription' ? subscribe(request) : http.executor(request));
    return new Subschema({ name: site.name, schema, batch: false, executor });
  });
  return { subschemas, close: () => closers.forEach((close) => close()) };
}
