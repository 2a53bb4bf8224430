import { defaultMergedResolver, ExternalObject, Subschema } from '@graphql-tools/delegate';
import { FieldNode, GraphQLError, GraphQLFieldResolver, GraphQLResolveInfo, Kind, OperationDefinitionNode, OperationTypeNode, parse, responsePathAsArray } from 'graphql';
import type { FederationContext } from './context';
import { LocalGroups, siteQuery } from './local-groups';
import { GlobalIds, localArgs } from './routing';
import { notLinked, Outcome, siteError } from './site-errors';

/** What the placement resolvers need of the federation: its sites, its ids and its delegation. */
export interface PlacementRouting {
  sites: ReadonlyMap<string, Subschema>;
  ids: GlobalIds;
  /** The site an id is of (a global id's, or where the caller's group found a site's own id). */
  siteOfId(id: string, ctx: FederationContext): string | undefined;
  /** The sites the caller's group is linked to, in configuration order (only the one it named with x-rsp-site). */
  targets(ctx: FederationContext): string[];
  /** The field being resolved, delegated to one site with `args`. */
  delegate(site: string, operation: OperationTypeNode, args: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo, fieldNodes?: FieldNode[]): Promise<Outcome>;
}

/** An allocation request as a site takes it (only what the federation reads or rewrites is typed). */
interface AllocationRequest {
  groupId: string;
  hostIds?: string[] | null;
  replicas?: number | null;
  [field: string]: unknown;
}

/** The selection the federation adds to a delegated placementCandidates: every candidate's score, to rank sites' candidates together. */
const RANK_KEY = '__federationRank';
const RANK_SELECTION = (parse(`{ ${RANK_KEY}: candidates { score } }`).definitions[0] as OperationDefinitionNode).selectionSet.selections[0] as FieldNode;
const BEST_SCORES = parse('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { score } } }');

/** A placement explanation merged from several sites: each site's part, candidates ranked together by score. */
export class FederatedExplanation {
  constructor(readonly parts: ExternalObject[]) {}
}

/**
 * Placement over every site the caller's group may use. `placementCandidates` asks each linked site
 * for the group's local group there and ranks all candidates together (each names its site);
 * `allocate` goes to the site of the best candidate (the next one when that site is out of
 * capacity by then), to the site owning the hosts it names, or to the one named by x-rsp-site;
 * that site's own placement claims the capacity against its share.
 */
export function placementResolvers(routing: PlacementRouting): { candidates: GraphQLFieldResolver<unknown, FederationContext>; allocate: GraphQLFieldResolver<unknown, FederationContext>; explanation: Record<string, GraphQLFieldResolver<unknown, FederationContext>> } {
  const localGroups = new LocalGroups(routing.sites);

  /** The request as each site takes it: the caller's own group (at whichever site it named it) becomes that site's local group. */
  const localRequests = async (request: AllocationRequest, ctx: FederationContext): Promise<(site: string) => AllocationRequest> => {
    const locals = await localGroups.of(Object.keys(ctx.group.links), ctx);
    const own = [...locals.values()].includes(request.groupId);
    return (site) => (own && locals.has(site) ? { ...request, groupId: locals.get(site)! } : request);
  };

  /** The request argument with the sites' own ids (global ids stripped). */
  const localRequest = (args: Record<string, unknown>, info: GraphQLResolveInfo): AllocationRequest => localArgs(args, info.parentType.getFields()[info.fieldName]!, routing.ids).args.request as AllocationRequest;

  const candidates: GraphQLFieldResolver<unknown, FederationContext> = async (_root, args, ctx, info) => {
    const request = localRequest(args, info);
    const localTo = await localRequests(request, ctx);
    const fieldNodes = info.fieldNodes.map((f) => ({ ...f, selectionSet: { kind: Kind.SELECTION_SET, selections: [...(f.selectionSet?.selections ?? []), RANK_SELECTION] } }) as FieldNode);
    const outcomes = await Promise.all(routing.targets(ctx).map((site) => routing.delegate(site, OperationTypeNode.QUERY, { request: localTo(site) }, ctx, info, fieldNodes)));
    const parts = outcomes.flatMap((o) => ('value' in o && o.value ? [o.value as ExternalObject] : []));
    const failed = outcomes.filter((o): o is Extract<Outcome, { failure: GraphQLError }> => 'failure' in o);
    if (!parts.length && failed.length) throw siteError(failed[0]!.site, failed[0]!.failure, info);
    ctx.siteErrors.push(...failed.map((o) => siteError(o.site, o.failure, info)));
    if (!parts.length) throw notLinked(info);
    return new FederatedExplanation(parts);
  };

  /** The sites to try for an automatic placement: those with candidates, best first (enough for every replica before too few). */
  const ranked = async (sites: string[], localTo: (site: string) => AllocationRequest, ctx: FederationContext): Promise<string[]> => {
    const best = await Promise.all(
      sites.map(async (site, order) => {
        const request = localTo(site);
        const found = await siteQuery<{ placementCandidates: { candidates: Array<{ score: number }> } }>(routing.sites.get(site)!, BEST_SCORES, { r: request }, ctx).catch(() => undefined);
        const scores = found?.placementCandidates.candidates.map((c) => c.score) ?? [];
        return { site, order, enough: scores.length >= (request.replicas ?? 1), best: scores.length ? Math.max(...scores) : -Infinity };
      }),
    );
    return best.sort((x, y) => Number(y.enough) - Number(x.enough) || y.best - x.best || x.order - y.order).map((b) => b.site);
  };

  const allocate: GraphQLFieldResolver<unknown, FederationContext> = async (_root, args, ctx, info) => {
    const hostIds = (args.request as AllocationRequest).hostIds ?? [];
    const request = localRequest(args, info);
    const localTo = await localRequests(request, ctx);
    const targets = routing.targets(ctx);
    let order: string[];
    if (hostIds.length && !ctx.site) {
      const owner = hostIds.map((id) => routing.siteOfId(id, ctx)).find((s) => s !== undefined);
      if (owner === undefined) throw new GraphQLError('Say which site the hosts are at: the header x-rsp-site, or host ids the federation gave (<site>:<id>)', { path: responsePathAsArray(info.path), extensions: { code: 'BAD_USER_INPUT', details: { sites: targets } } });
      order = targets.filter((s) => s === owner);
    } else order = targets.length > 1 ? await ranked(targets, localTo, ctx) : targets;
    if (!order.length) throw notLinked(info);
    let first: { site: string; error: GraphQLError } | undefined;
    for (const site of order) {
      const outcome = await routing.delegate(site, OperationTypeNode.MUTATION, { request: localTo(site) }, ctx, info);
      if ('value' in outcome) return outcome.value;
      const error = 'failure' in outcome ? outcome.failure : outcome.notFound;
      first ??= { site, error };
      // Out of capacity there (taken since the ranking, or no candidate at all): the next site may have it. Anything else is the answer.
      if (error.extensions?.code !== 'CONFLICT') break;
    }
    throw siteError(first!.site, first!.error, info);
  };

  const explanation: Record<string, GraphQLFieldResolver<unknown, FederationContext>> = {
    candidates: async (parent, args, ctx, info) => {
      if (!(parent instanceof FederatedExplanation)) return defaultMergedResolver(parent as ExternalObject, args, ctx, info);
      const scored = await Promise.all(
        parent.parts.map(async (part) => {
          const values = ((await defaultMergedResolver(part, args, ctx, info)) ?? []) as unknown[];
          const scores = ((part as Record<string, unknown>)[RANK_KEY] ?? []) as Array<{ score: number }>;
          return values.map((value, i) => ({ value, score: scores[i]?.score ?? -Infinity }));
        }),
      );
      // A stable sort: equal scores keep the sites' configuration order.
      return scored.flat().sort((x, y) => y.score - x.score).map((c) => c.value);
    },
    rejected: async (parent, args, ctx, info) => {
      if (!(parent instanceof FederatedExplanation)) return defaultMergedResolver(parent as ExternalObject, args, ctx, info);
      return (await Promise.all(parent.parts.map((part) => defaultMergedResolver(part, args, ctx, info)))).flatMap((v) => (Array.isArray(v) ? v : []));
    },
  };

  return { candidates, allocate, explanation };
}

