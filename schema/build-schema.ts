import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { GraphQLResolveInfo, GraphQLSchema, parse } from 'graphql';
import { buildSchema, createResolversMap, NonEmptyArray } from 'type-graphql';
import type { GatewayContext } from '../gateway/context';
import type { RspPubSub } from '../gateway/events/pubsub';
import { precoercedArgument } from '../gateway/server/variable-precoercion';
import { AgentResolver } from './agents/resolver';
import { AuthResolver } from './auth/resolver';
import { validateArgument } from './common/validate-argument';
import { EnvironmentLogResolver } from './environments/log-resolver';
import { EnvironmentResolver } from './environments/resolver';
import { FailoverResolver } from './failover/resolver';
import { GroupResolver } from './groups/resolver';
import { ImageResolver } from './images/resolver';
import { LayerResolver } from './layers/resolver';
import { MetricsResolver } from './metrics/resolver';
import { OfferResolver } from './offers/resolver';
import { OperationResolver } from './operations/resolver';
import { OrphanResolver } from './orphans/resolver';
import type { AllocationRequestInput } from './placement/inputs';
import { allocateManyResults, AllocationHoldingsResolver, AllocationRequestResolver, AllocationResolver, EnvironmentHoldersResolver, ResourceOwnersResolver } from './placement/resolver';
import { ReplicaResolver, ReplicationPolicyResolver } from './replication/resolver';
import { RetirementResolver } from './retirement/resolver';
import { ResourceClassResolver, ResourceResolver } from './resources/resolver';
import { ShareResolver } from './shares/resolver';
import { EnvironmentSnapshotResolver } from './snapshots/resolver';
import { HostResolver, SiteResolver } from './sites/resolver';
import { SystemResolver } from './system/resolver';

/** Every resolver class of the schema. A new area adds its resolver here. */
export const resolverClasses: NonEmptyArray<Function> = [
  SystemResolver,
  AuthResolver,
  AgentResolver,
  OperationResolver,
  GroupResolver,
  SiteResolver,
  HostResolver,
  ResourceResolver,
  ResourceClassResolver,
  OfferResolver,
  ShareResolver,
  LayerResolver,
  ImageResolver,
  EnvironmentResolver,
  EnvironmentLogResolver,
  EnvironmentSnapshotResolver,
  MetricsResolver,
  AllocationRequestResolver,
  AllocationResolver,
  ResourceOwnersResolver,
  AllocationHoldingsResolver,
  EnvironmentHoldersResolver,
  ReplicationPolicyResolver,
  ReplicaResolver,
  FailoverResolver,
  RetirementResolver,
  OrphanResolver,
];

/** How each federation entity is fetched from its key: `__typename` → resolver of `{ id }`, as the caller. */
export const entityReferenceResolvers: Record<string, (ref: { id: string }, ctx: GatewayContext) => Promise<unknown>> = {
  Operation: async (ref, ctx) => ctx.services.operations.present(ctx.actor, await ctx.services.operations.get(ref.id, ctx.actor)),
  Group: (ref, ctx) => ctx.services.groups.get(ctx.actor, ref.id),
  Site: (ref, ctx) => ctx.services.sites.getSite(ctx.actor, ref.id),
  Host: (ref, ctx) => ctx.services.sites.getHost(ctx.actor, ref.id),
  Resource: (ref, ctx) => ctx.services.resources.get(ctx.actor, ref.id),
  Image: (ref, ctx) => ctx.services.images.view(ctx.actor, ref.id),
  Environment: (ref, ctx) => ctx.services.environments.view(ctx.actor, ref.id),
};

/**
 * Fields the executable schema resolves with their arguments as GraphQL coerced them, not through
 * their resolver method: type-graphql copies every input object of an argument into an instance
 * of its class, field by field, which for the up to 1,000 requests of one `allocateMany` took
 * about 8 % of the gateway's busy CPU in `bench:placement`'s batches. Only for arguments without class-validator
 * rules (the service checks them); the resolver class still declares the field and calls the same function.
 */
export const directFieldResolvers = {
  Mutation: {
    allocateMany: (_root: unknown, args: { requests: AllocationRequestInput[] }, ctx: GatewayContext, info: GraphQLResolveInfo) =>
      allocateManyResults((precoercedArgument(ctx, info, 'requests') as AllocationRequestInput[] | undefined) ?? args.requests, ctx.actor, ctx),
  },
};

/**
 * Input types whose list variables the gateway coerces ahead of graphql-js
 * (`variablePrecoercionPlugin`): every field argument taking a list of one must read it with
 * `precoercedArgument`, as `allocateMany` does (checked by a unit test with `precoercionTargets`).
 */
export const PRECOERCED_INPUT_TYPES = ['AllocationRequestInput'] as const;

const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])';

/** Builds the type-graphql schema (no federation fields): the source of the printed SDL. */
export function buildTypeGraphQLSchema(pubSub: RspPubSub): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: resolverClasses,
    pubSub,
    validateFn: validateArgument,
    skipCheck: true,
  });
}

/**
 * Builds the gateway's executable schema: the type-graphql schema served as an Apollo
 * Federation 2 subgraph (`_service`, `_entities`), so several sites compose into one graph.
 */
export async function buildGatewaySchema(pubSub: RspPubSub): Promise<GraphQLSchema> {
  const schema = await buildTypeGraphQLSchema(pubSub);
  const typeDefs = parse(`${FEDERATION_LINK}\n${printSchemaWithDirectives(schema)}`);
  const resolvers = createResolversMap(schema) as GraphQLResolverMap<GatewayContext>;
  for (const [typeName, resolveReference] of Object.entries(entityReferenceResolvers)) {
    resolvers[typeName] = { ...(resolvers[typeName] as object), __resolveReference: resolveReference } as never;
  }
  for (const [typeName, fields] of Object.entries(directFieldResolvers)) resolvers[typeName] = { ...(resolvers[typeName] as object), ...fields } as never;
  return buildSubgraphSchema({ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> });
}
