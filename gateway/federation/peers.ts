import { GraphQLError, GraphQLInputType, GraphQLResolveInfo, isInputObjectType, isListType, isNonNullType, responsePathAsArray } from 'graphql';
import type { FederationContext } from './context';

/** The site input type whose url and token the federation fills (see schema/common/peer-site.ts). */
export const PEER_SITE_INPUT = 'PeerSiteInput';

/**
 * `args` with every PeerSiteInput filled from the federation's peering: the site's URL and the token
 * it issued for the caller's group (whatever the caller gave is replaced). A site the group is not
 * linked to is NOT_FOUND: a site gets from the federation only what the group may do at the other.
 */
export function withPeers(args: Record<string, unknown>, info: GraphQLResolveInfo, ctx: FederationContext, urls: ReadonlyMap<string, string>): Record<string, unknown> {
  const field = info.parentType.getFields()[info.fieldName]!;
  const fill = (value: unknown, type: GraphQLInputType): unknown => {
    if (value === null || value === undefined) return value;
    if (isNonNullType(type)) return fill(value, type.ofType);
    if (isListType(type)) return Array.isArray(value) ? value.map((v) => fill(v, type.ofType)) : fill(value, type.ofType);
    if (!isInputObjectType(type) || typeof value !== 'object') return value;
    if (type.name === PEER_SITE_INPUT) {
      const name = String((value as { name?: unknown }).name);
      const token = ctx.group.links[name];
      if (!token || !urls.has(name)) throw new GraphQLError(`Your group is not linked to site ${name}`, { path: responsePathAsArray(info.path), extensions: { code: 'NOT_FOUND', details: { site: name } } });
      return { name, url: urls.get(name), token };
    }
    const fields = type.getFields();
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, fields[k] ? fill(v, fields[k].type) : v]));
  };
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, field.args.find((a) => a.name === k) ? fill(v, field.args.find((a) => a.name === k)!.type) : v]));
}

/** True when a root field takes a PeerSiteInput somewhere in its arguments (only those are rewritten). */
export function takesPeer(info: GraphQLResolveInfo): boolean {
  const seen = new Set<string>();
  const has = (type: GraphQLInputType): boolean => {
    if (isNonNullType(type) || isListType(type)) return has(type.ofType);
    if (!isInputObjectType(type) || seen.has(type.name)) return false;
    seen.add(type.name);
    return type.name === PEER_SITE_INPUT || Object.values(type.getFields()).some((f) => has(f.type));
  };
  return info.parentType.getFields()[info.fieldName]!.args.some((a) => has(a.type));
}
