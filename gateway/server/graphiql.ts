import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

let page: string | undefined;

/**
 * The GraphQL IDE page, with every asset inlined from the npm package (no CDN: gateways may be
 * offline). Rendered once, on first use.
 */
export function graphiqlPage(): string {
  page ??= renderGraphiQL({
    title: 'RSP GraphQL',
    endpoint: '/graphql',
    subscriptionsProtocol: 'WS',
    defaultQuery: '# Welcome to RSP. Try:\n{\n  gateway { site version database }\n}\n',
  } as Parameters<typeof renderGraphiQL>[0]);
  return page;
}
