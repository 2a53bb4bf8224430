import type { Subschema } from '@graphql-tools/delegate';
import { isAsyncIterable } from '@graphql-tools/utils';
import { DocumentNode, GraphQLError, parse } from 'graphql';
import type { FederationContext } from './context';
import { errorOf } from './site-errors';

const VIEWER_GROUP = parse('{ viewer { groupId } }');

/**
 * Runs `document` at one site as the caller's group there (the token that site issued for it) and
 * gives its data; the site's first error, or its failure to answer, is thrown.
 */
export async function siteQuery<T>(site: Subschema, document: DocumentNode, variables: Record<string, unknown>, ctx: FederationContext): Promise<T> {
  let result: unknown;
  try {
    result = await site.executor!({ document, variables, context: ctx, operationType: 'query' as never });
  } catch (e) {
    throw errorOf(e);
  }
  if (isAsyncIterable(result)) throw new GraphQLError(`Site ${site.name} answered a query with a stream`);
  const { data, errors } = result as { data?: T | null; errors?: readonly unknown[] };
  if (errors?.length) throw errorOf(errors[0]);
  if (!data) throw new GraphQLError(`Site ${site.name} answered with no data`);
  return data;
}

/**
 * The local group a federation group is linked to at each site: the group of the token the site
 * issued (its `viewer`), asked once per site and token. The federation needs it to say "this
 * group" at each site, where the same group has the site's own id.
 */
export class LocalGroups {
  private readonly known = new Map<string, string>();

  constructor(private readonly sites: ReadonlyMap<string, Subschema>) {}

  /** The caller's local group id at each of `sites` (a site that does not answer is left out). */
  async of(sites: string[], ctx: FederationContext): Promise<Map<string, string>> {
    const found = await Promise.all(sites.map(async (site) => [site, await this.at(site, ctx).catch(() => undefined)] as const));
    return new Map(found.filter((f): f is readonly [string, string] => f[1] !== undefined));
  }

  private async at(site: string, ctx: FederationContext): Promise<string | undefined> {
    const token = ctx.group.links[site];
    if (token === undefined) return undefined;
    const key = `${site}\0${token}`;
    const cached = this.known.get(key);
    if (cached !== undefined) return cached;
    const { viewer } = await siteQuery<{ viewer: { groupId: string | null } }>(this.sites.get(site)!, VIEWER_GROUP, {}, ctx);
    if (viewer.groupId) this.known.set(key, viewer.groupId);
    return viewer.groupId ?? undefined;
  }
}
