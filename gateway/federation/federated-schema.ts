import { defaultMergedResolver, delegateToSchema, ExternalObject, OBJECT_SUBSCHEMA_SYMBOL, Subschema } from '@graphql-tools/delegate';
import { stitchSchemas } from '@graphql-tools/stitch';
import { isAsyncIterable } from '@graphql-tools/utils';
import { Repeater } from 'graphql-yoga';
import { FieldNode, getNamedType, GraphQLError, GraphQLFieldResolver, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, isNonNullType, isObjectType, Kind, OperationTypeNode, parse, responsePathAsArray, FieldNode as Field, OperationDefinitionNode } from 'graphql';
import type { FederationContext } from './context';
import { DelegationPlans } from './delegation-plans';
import { FieldKind, FlatLists } from './flat-lists';
import { ByIdForwarding, ResolvedAs } from './forwarding';
import { takesPeer, withPeers } from './peers';
import { placementResolvers } from './placement';
import { decodeCursor, encodeCursor, FederatedConnection, GlobalIds, isConnectionType, LocalArgs, localArgs, mergeKindOf, SiteCursors, SiteIndex } from './routing';
import { classify, errorOf, mergedLists, notLinked, Outcome, siteError } from './site-errors';

/** The selection the federation adds to a delegated connection: each site's own end cursor. */
const SITE_PAGE_KEY = '__federationPage';
const SITE_PAGE_SELECTION = ((parse(`{ ${SITE_PAGE_KEY}: pageInfo { endCursor hasNextPage } }`).definitions[0] as OperationDefinitionNode).selectionSet.selections[0]) as Field;

/** Each connection field node of a parsed request with SITE_PAGE_SELECTION added. */
const sitePageNodes = new WeakMap<FieldNode, FieldNode>();

/** `node` with SITE_PAGE_SELECTION added, the same object each time for the same node. */
function withSitePage(node: FieldNode): FieldNode {
  let paged = sitePageNodes.get(node);
  if (!paged) {
    paged = { ...node, selectionSet: { kind: Kind.SELECTION_SET, selections: [...(node.selectionSet?.selections ?? []), SITE_PAGE_SELECTION] } };
    sitePageNodes.set(node, paged);
  }
  return paged;
}

/** The site an object delegated from a site came from (its subschema's name). */
export function siteOfObject(object: unknown): string | undefined {
  return (object as Record<symbol, Subschema | undefined> | null)?.[OBJECT_SUBSCHEMA_SYMBOL]?.name;
}

/** Types without an id that still say their site: an event of the merged stream, a placement candidate or rejection. */
const SITE_SOURCED_TYPES = ['Event', 'PlacementCandidate', 'PlacementRejection'];

/**
 * The federation's schema: the site schema stitched over every member site (GraphQL Tools), each
 * object with the site it comes from (`federationSite`) and every id global (`<site>:<id>`,
 * GlobalIds). Root fields route: to the site a global id they name says (a site's own id: where
 * the federation found it before), else to every site the caller's group is linked to, in
 * parallel — lists and connections merge, anything else is the first site's answer (in
 * configuration order).
 */
export function federatedSchema(sites: Subschema[], siteSchema: GraphQLSchema, index = new SiteIndex(), urls: ReadonlyMap<string, string> = new Map()): GraphQLSchema {
  return federation(sites, siteSchema, index, urls).schema;
}

/** The federation's schema (federatedSchema) and its by-id fast path (ByIdForwarding), which answers as that schema would. */
export function federation(sites: Subschema[], siteSchema: GraphQLSchema, index = new SiteIndex(), urls: ReadonlyMap<string, string> = new Map()): { schema: GraphQLSchema; forwarding: ByIdForwarding } {
  const bySite = new Map(sites.map((s) => [s.name!, s]));
  const entityTypes = Object.values(siteSchema.getTypeMap()).filter(
    (t): t is GraphQLObjectType => isObjectType(t) && !t.name.startsWith('__') && t.getFields().id !== undefined && isNonNullType(t.getFields().id!.type) && String(t.getFields().id!.type) === 'ID!',
  );
  const connectionTypes = Object.values(siteSchema.getTypeMap()).filter(isConnectionType);
  const ids = new GlobalIds(new Set(bySite.keys()));
  /** The site of an id: the one a global id names, else where the caller's group found a site's own id. */
  const siteOfId = (id: string, ctx: FederationContext): string | undefined => ids.parse(id)?.site ?? index.siteOf(ctx.group.name, id);

  const plans = new DelegationPlans();
  /** Delegates the field being resolved to one site, as the caller's group there (its plan kept unless other field nodes are given). */
  const delegate = async (site: string, operation: OperationTypeNode, args: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo, fieldNodes?: FieldNode[]): Promise<Outcome> => {
    // The by-id fast path asked this site already and it answered errors: they are its answer.
    const answered = ctx.forwarded?.site === site ? ctx.forwarded.errors : undefined;
    if (answered) return classify(site, answered.length === 1 ? answered[0] : new AggregateError(answered));
    try {
      const value = fieldNodes
        ? await delegateToSchema({ schema: bySite.get(site)!, operation, fieldName: info.fieldName, args, context: ctx, info, fieldNodes })
        : await plans.delegate(bySite.get(site)!, operation, args, ctx as unknown as Record<string, unknown>, info);
      return value instanceof Error ? classify(site, value) : { site, value };
    } catch (e) {
      return classify(site, e);
    }
  };

  /** The sites the caller's group is linked to, in configuration order. */
  const linkedSites = (ctx: FederationContext): string[] => sites.map((s) => s.name!).filter((name) => name in ctx.group.links);

  /** The sites a root field goes to: the owner of an id it names, a site the caller chose, or every linked site. */
  const targetsOf = (operation: OperationTypeNode, local: LocalArgs, ctx: FederationContext, info: GraphQLResolveInfo): string[] => {
    const linked = linkedSites(ctx);
    const owner = local.sites[0] ?? local.plain.map((id) => index.siteOf(ctx.group.name, id)).find((s) => s !== undefined);
    const chosen = ctx.site ?? owner;
    if (chosen !== undefined) return linked.includes(chosen) ? [chosen] : [];
    if (operation !== OperationTypeNode.MUTATION || linked.length <= 1) return linked;
    throw new GraphQLError(`Say which site ${info.fieldName} is for: the header x-rsp-site (one of ${linked.join(', ')}), or an id the federation gave (<site>:<id>)`, {
      path: responsePathAsArray(info.path),
      extensions: { code: 'BAD_USER_INPUT', details: { sites: linked } },
    });
  };

  /** Which root fields take a PeerSiteInput (asked once per field). */
  const peerFields = new Map<string, boolean>();

  const rootResolver = (operation: OperationTypeNode): GraphQLFieldResolver<unknown, FederationContext> => async (_root, given, ctx, info) => {
    // Another site named in the arguments (PeerSiteInput): its URL and the group's token there, from the peering.
    const key = `${info.parentType.name}.${info.fieldName}`;
    if (!peerFields.has(key)) peerFields.set(key, takesPeer(info));
    const local = localArgs(peerFields.get(key) ? withPeers(given, info, ctx, urls) : given, field(info), ids);
    const args = local.args;
    const targets = targetsOf(operation, local, ctx, info);
    const kind = mergeKindOf(info.returnType);
    if (kind === 'connection') return connection(targets, args, ctx, info);
    const outcomes = await Promise.all(targets.map((site) => delegate(site, operation, args, ctx, info)));
    const answered = outcomes.filter((o): o is Extract<Outcome, { value: unknown }> => 'value' in o);
    const failed = outcomes.filter((o): o is Extract<Outcome, { failure: GraphQLError }> => 'failure' in o);
    if (kind === 'list') {
      ctx.siteErrors.push(...failed.map((o) => siteError(o.site, o.failure, info)));
      return mergedLists(answered.map((o) => (Array.isArray(o.value) ? (flat.flatten(o.value, o.site, info) ?? o.value) : undefined)), info);
    }
    const found = answered.find((o) => o.value !== null && o.value !== undefined);
    if (found) {
      // A site's own id found by asking every site: the next request with it goes straight there.
      if (!local.sites.length && targets.length > 1) for (const id of local.plain) index.remember(ctx.group.name, id, found.site);
      return found.value;
    }
    if (failed.length) {
      ctx.siteErrors.push(...failed.slice(1).map((o) => siteError(o.site, o.failure, info)));
      throw siteError(failed[0]!.site, failed[0]!.failure, info);
    }
    const notFound = outcomes.find((o): o is Extract<Outcome, { notFound: GraphQLError }> => 'notFound' in o);
    if (notFound) throw new GraphQLError(notFound.notFound.message, { path: responsePathAsArray(info.path), extensions: { code: 'NOT_FOUND' } });
    if (answered.length) return null;
    throw notLinked(info);
  };

  /** A connection from every target site: each site's page (the merged cursor says where each one is) and the pages merged. */
  const connection = async (targets: string[], args: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo): Promise<FederatedConnection> => {
    const after = typeof args.after === 'string' ? decodeCursor(args.after, info) : undefined;
    const sitesNow = after ? targets.filter((s) => typeof after[s] === 'string' || !(s in after)) : targets;
    // The field with the site's page added, the same node for the same parsed field: its delegation is planned once.
    const paged = { ...info, fieldNodes: info.fieldNodes.map(withSitePage) };
    const outcomes = await Promise.all(sitesNow.map((site) => delegate(site, OperationTypeNode.QUERY, { ...args, after: after?.[site] || undefined }, ctx, paged)));
    const cursors: SiteCursors = { ...(after ?? {}) };
    const parts: unknown[] = [];
    for (const o of outcomes) {
      if ('value' in o && o.value) {
        parts.push(o.value);
        const page = (o.value as Record<string, { endCursor: string | null; hasNextPage: boolean } | undefined>)[SITE_PAGE_KEY];
        cursors[o.site] = page?.hasNextPage ? page.endCursor : null;
      } else if ('failure' in o) {
        ctx.siteErrors.push(siteError(o.site, o.failure, info));
        // Its position stays: the next page asks it again from where it was.
        if (!(o.site in cursors)) cursors[o.site] = after?.[o.site] ?? '';
      }
    }
    const hasNextPage = Object.values(cursors).some((c) => typeof c === 'string');
    return new FederatedConnection(parts, { hasNextPage, hasPreviousPage: after !== undefined, startCursor: null, endCursor: hasNextPage ? encodeCursor(cursors) : null });
  };

  /** A subscription at the site owning the id it names, else at every linked site, their events merged. */
  const subscribe: GraphQLFieldResolver<unknown, FederationContext> = async (_root, args, ctx, info) => {
    const streams: SiteStream[] = [];
    const failures: Array<{ site: string; error: GraphQLError }> = [];
    const local = localArgs(args, field(info), ids);
    await Promise.all(
      targetsOf(OperationTypeNode.SUBSCRIPTION, local, ctx, info).map(async (site) => {
        try {
          const stream = await delegateToSchema({ schema: bySite.get(site)!, operation: OperationTypeNode.SUBSCRIPTION, fieldName: info.fieldName, args: local.args, context: ctx, info });
          if (isAsyncIterable(stream)) streams.push({ site, stream });
          else failures.push({ site, error: errorOf(stream) });
        } catch (e) {
          failures.push({ site, error: errorOf(e) });
        }
      }),
    );
    if (!streams.length) {
      if (failures[0]) throw siteError(failures[0].site, failures[0].error, info);
      throw notLinked(info);
    }
    return mergeSiteStreams(streams, info);
  };

  const resolvers: Record<string, Record<string, unknown>> = {};
  /** The generic resolver of query root fields (routed by their arguments). */
  let queryRoot: unknown;
  const subscriptionType = siteSchema.getSubscriptionType();
  if (subscriptionType) resolvers[subscriptionType.name] = Object.fromEntries(Object.keys(subscriptionType.getFields()).map((name) => [name, { subscribe, resolve: (payload: unknown) => payload }]));
  for (const [operation, type] of [[OperationTypeNode.QUERY, siteSchema.getQueryType()], [OperationTypeNode.MUTATION, siteSchema.getMutationType()]] as const) {
    if (!type) continue;
    const resolve = rootResolver(operation);
    if (operation === OperationTypeNode.QUERY) queryRoot = resolve;
    resolvers[type.name] = Object.fromEntries(Object.keys(type.getFields()).map((name) => [name, resolve]));
  }
  /** An ID (or list of IDs) a site gave, global: prefixed with that site's name. */
  const globalized = (site: string, value: unknown): unknown => (typeof value === 'string' ? ids.of(site, value) : Array.isArray(value) ? value.map((v) => globalized(site, v)) : value);
  const flat = new FlatLists(globalized);
  const globalId = (parent: unknown, args: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo): unknown => {
    const value = defaultMergedResolver(parent as ExternalObject, args, ctx, info);
    const site = siteOfObject(parent);
    return site && !(value instanceof Error) ? globalized(site, value) : value;
  };
  const roots = new Set([siteSchema.getQueryType(), siteSchema.getMutationType(), siteSchema.getSubscriptionType()].map((t) => t?.name));
  for (const type of Object.values(siteSchema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || roots.has(type.name)) continue;
    const idFields = Object.values(type.getFields()).filter((f) => getNamedType(f.type).name === 'ID');
    if (idFields.length) resolvers[type.name] = Object.fromEntries(idFields.map((f) => [f.name, globalId]));
  }
  // A replica kept at another member site: its id there is that site's.
  resolvers.Replica!.peerReplicaId = {
    selectionSet: '{ peerSite }',
    resolve: (parent: unknown, args: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo) => {
      const value = defaultMergedResolver(parent as ExternalObject, args, ctx, info);
      const peer = (parent as { peerSite?: unknown }).peerSite;
      return typeof value === 'string' && typeof peer === 'string' && bySite.has(peer) ? ids.of(peer, value) : value;
    },
  };
  // It needs nothing of the site, but a selection of only federationSite must still ask the site for the object.
  const federationSite = { selectionSet: '{ __typename }', resolve: (parent: unknown) => siteOfObject(parent) };
  for (const name of [...entityTypes.map((t) => t.name), ...SITE_SOURCED_TYPES]) resolvers[name] = { ...resolvers[name], federationSite };

  /** A query or mutation of the federation's own at one site, as the caller's group there; its first error thrown, naming the site. */
  const ask = async <T>(site: string, operation: OperationTypeNode, query: string, variables: Record<string, unknown>, ctx: FederationContext, info: GraphQLResolveInfo): Promise<T> => {
    const result = (await bySite.get(site)!.executor!({ document: parse(query), variables, context: ctx, operationType: operation })) as { data?: T; errors?: readonly GraphQLError[] };
    if (result.errors?.length) throw siteError(site, errorOf(result.errors[0]), info);
    return result.data as T;
  };

  /**
   * createEnvironment at one site with an image of another (by their ids): the site placing it first
   * fetches the image by digest from the site that has it (importImage, through the group's
   * peering), then creates the environment with its own copy.
   */
  const createEnvironment: GraphQLFieldResolver<unknown, FederationContext> = async (root, args, ctx, info) => {
    const input = (args.input ?? {}) as { imageId?: string; hostId?: string; allocationId?: string };
    const imageSite = input.imageId ? siteOfId(input.imageId, ctx) : undefined;
    const placeSite = ctx.site ?? [input.hostId, input.allocationId].map((id) => (id ? siteOfId(id, ctx) : undefined)).find((s) => s !== undefined);
    if (!imageSite || !placeSite || imageSite === placeSite || !(imageSite in ctx.group.links) || !(placeSite in ctx.group.links)) return rootResolver(OperationTypeNode.MUTATION)(root, args, ctx, info);
    const { image } = await ask<{ image: { digest: string | null } | null }>(imageSite, OperationTypeNode.QUERY, 'query ($id: ID!) { image(id: $id) { digest } }', { id: ids.local(input.imageId!) }, ctx, info);
    if (!image?.digest) throw new GraphQLError(`Image ${input.imageId} at site ${imageSite} has no content to fetch`, { path: responsePathAsArray(info.path), extensions: { code: 'BAD_USER_INPUT', details: { site: imageSite } } });
    const from = { name: imageSite, url: urls.get(imageSite), token: ctx.group.links[imageSite] };
    const { importImage } = await ask<{ importImage: { id: string } }>(placeSite, OperationTypeNode.MUTATION, 'mutation ($i: ImportImageInput!) { importImage(input: $i) { id } }', { i: { digest: image.digest, from } }, ctx, info);
    return rootResolver(OperationTypeNode.MUTATION)(root, { ...args, input: { ...input, imageId: ids.of(placeSite, importImage.id) } }, { ...ctx, site: placeSite }, info);
  };

  const placement = placementResolvers({ sites: bySite, ids, siteOfId, delegate, targets: (ctx) => (ctx.site !== undefined ? linkedSites(ctx).filter((s) => s === ctx.site) : linkedSites(ctx)) });
  resolvers[siteSchema.getQueryType()!.name]!.placementCandidates = placement.candidates;
  resolvers[siteSchema.getMutationType()!.name]!.allocate = placement.allocate;
  resolvers[siteSchema.getMutationType()!.name]!.createEnvironment = createEnvironment;
  resolvers.PlacementExplanation = { ...resolvers.PlacementExplanation, ...placement.explanation };
  /** A connection's fields resolve as the site answered them below a root field (only a root field's connection is merged). */
  const connectionFields = new Set<unknown>();
  for (const type of connectionTypes) {
    resolvers[type.name] = Object.fromEntries(Object.entries(type.getFields()).map(([name, f]) => [name, connectionFieldResolver(name, mergeKindOf(f.type), flat)]));
    for (const resolve of Object.values(resolvers[type.name]!)) connectionFields.add(resolve);
  }
  const resolvedAs = (type: string, name: string): ResolvedAs => {
    const resolve = resolvers[type]?.[name];
    if (resolve === undefined || connectionFields.has(resolve)) return 'plain';
    return resolve === globalId ? 'id' : resolve === federationSite ? 'site' : 'own';
  };

  const stitched = stitchSchemas({
    subschemas: sites.length ? sites : [{ schema: siteSchema }],
    typeDefs: [...entityTypes.map((t) => t.name), ...SITE_SOURCED_TYPES].map((t) => `extend type ${t} { """The member site this object comes from (the federation's name for it)."""\nfederationSite: String! }`).join('\n'),
    resolvers,
  });
  // Site lists made flat are read by field: those GraphQL Tools resolves, those made global, federationSite.
  flat.install(stitched, (type, name): FieldKind | undefined => {
    const resolve = resolvers[type]?.[name];
    return resolve === undefined ? 'copy' : resolve === globalId ? 'id' : resolve === federationSite ? 'site' : undefined;
  }, roots);
  const queryName = siteSchema.getQueryType()?.name;
  const forwarding = new ByIdForwarding(stitched, bySite, ids, resolvedAs, (name) => queryName !== undefined && resolvers[queryName]?.[name] === queryRoot);
  return { schema: stitched, forwarding };
}

function field(info: GraphQLResolveInfo) {
  return info.parentType.getFields()[info.fieldName]!;
}

/**
 * A field of a connection type: merged over the sites' parts for a federated connection (a list of
 * objects made flat in one pass where it can be), as delegated otherwise.
 */
function connectionFieldResolver(name: string, kind: ReturnType<typeof mergeKindOf>, flat: FlatLists): GraphQLFieldResolver<unknown, FederationContext> {
  return async (parent, args, ctx, info) => {
    if (!(parent instanceof FederatedConnection)) return defaultMergedResolver(parent as ExternalObject, args, ctx, info);
    if (name === 'pageInfo') return parent.pageInfo;
    const values = await Promise.all(parent.parts.map((p) => (kind === 'list' ? flat.list(p as ExternalObject, siteOfObject(p), info) : undefined) ?? defaultMergedResolver(p as ExternalObject, args, ctx, info)));
    if (kind === 'list') return mergedLists(values, info);
    if (name === 'totalCount') return values.reduce((sum: number, v) => sum + (typeof v === 'number' ? v : 0), 0);
    return values[0] ?? null;
  };
}

/** A site's subscription: the events it sends, delegated. */
interface SiteStream {
  site: string;
  stream: AsyncIterable<unknown>;
}

/**
 * The events of several sites' subscriptions as one stream. A site whose subscription fails
 * (NOT_FOUND: the id is another site's; or it went down) drops out; the stream ends with that
 * error only when every site's did.
 */
function mergeSiteStreams(streams: SiteStream[], info: GraphQLResolveInfo): AsyncIterable<unknown> {
  return new Repeater(async (push, stop) => {
    const iterators = streams.map((s) => s.stream[Symbol.asyncIterator]());
    void stop.then(() => iterators.forEach((it) => void it.return?.()));
    const failures: Outcome[] = [];
    await Promise.all(
      iterators.map(async (it, i) => {
        try {
          for (;;) {
            const next = await Promise.race([it.next(), stop.then(() => ({ done: true, value: undefined }))]);
            if (next.done) return;
            if (next.value instanceof Error) throw next.value;
            await push(next.value);
          }
        } catch (e) {
          failures.push(classify(streams[i]!.site, e));
        }
      }),
    );
    const failure = failures.find((f): f is Extract<Outcome, { failure: GraphQLError }> => 'failure' in f);
    if (failures.length === streams.length && failures.length) {
      stop(failure ? siteError(failure.site, failure.failure, info) : new GraphQLError(`Not found at any linked site: ${info.fieldName}`, { extensions: { code: 'NOT_FOUND' } }));
    } else stop();
  });
}
