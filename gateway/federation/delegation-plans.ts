import { createRequest, delegateToSchema, getCoercedVariableValues, getGraphQLResolveInfo, Subschema, Transformer } from '@graphql-tools/delegate';
import type { DelegationContext } from '@graphql-tools/delegate';
import type { ExecutionRequest, ExecutionResult } from '@graphql-tools/utils';
import { DocumentNode, FieldNode, GraphQLInputType, GraphQLResolveInfo, isInputObjectType, isListType, isNonNullType, Kind, OperationDefinitionNode, OperationTypeNode } from 'graphql';

/**
 * What GraphQL Tools makes of one root field for a site, kept: the delegated document (prepared for
 * the site's schema, printed once by the HTTP executor) and where each of its variables comes from.
 */
interface Plan {
  operation: OperationDefinitionNode;
  site: Subschema;
  /** The argument names in order, each marked when its variable of the caller's request is sent as it is. */
  shape: string;
  document: DocumentNode;
  operationName: string | undefined;
  /** The variables the delegated document uses. */
  usedVariables: string[];
  /** The field's arguments each given a variable of their own: the argument, its variable, its type. */
  argVariables: Array<{ arg: string; variable: string; type: GraphQLInputType }>;
  hasOverlappingAliases: boolean;
}

/** What a GraphQL Tools Transformer learns of a request as it prepares it, and needs again for its result. */
type TransformerState = { hasOverlappingAliases: boolean };

/**
 * delegateToSchema for a root field, its delegation planned once per field of a parsed request
 * (GraphQL Yoga keeps parsed documents, so the same query text reuses its plan) and site: the
 * request GraphQL Tools builds and prepares for the site (createRequest, then its Transformer:
 * abstract types, selection sets the federation's own fields need, fields only the federation
 * has removed, unused variables and fragments dropped) depends on the document, the argument
 * names and which arguments keep the caller's variable; only the variables' values change. The
 * result goes through the same Transformer (errors, the object annotated with its site). A field
 * delegated with other field nodes (a connection's page) or a site with transforms is delegated
 * as GraphQL Tools does, each time.
 */
export class DelegationPlans {
  private readonly plans = new WeakMap<FieldNode, Plan[]>();

  /** The field being resolved, delegated to `site` with `args` (as delegateToSchema with these options). */
  async delegate(site: Subschema, operation: OperationTypeNode, args: Record<string, unknown>, context: Record<string, unknown>, info: GraphQLResolveInfo): Promise<unknown> {
    const stitchingInfo = info.schema.extensions?.stitchingInfo as { subschemaMap?: Map<unknown, Subschema> } | undefined;
    const config = stitchingInfo?.subschemaMap?.get(site) ?? site;
    const targetField = site.transformedSchema.getRootType(operation)?.getFields()[info.fieldName];
    const unplanned = () => delegateToSchema({ schema: site, operation, fieldName: info.fieldName, args, context, info });
    if (config.transforms?.length || config.batch || !config.executor || !targetField || info.fieldNodes.length !== 1) return unplanned();
    const outer = getCoercedVariableValues(info.variableValues) as Record<string, unknown> | undefined;
    const fieldNode = info.fieldNodes[0]!;
    let shape = '';
    for (const name in args) {
      if (!targetField.args.some((a) => a.name === name)) return unplanned();
      const node = fieldNode.arguments?.find((a) => a.name.value === name);
      shape += node?.value.kind === Kind.VARIABLE && outer?.[node.value.name.value] === args[name] ? `${name}=,` : `${name},`;
    }
    const delegationContext: DelegationContext = {
      subschema: site,
      subschemaConfig: config,
      targetSchema: config.schema,
      operation,
      fieldName: info.fieldName,
      context,
      info,
      returnType: info.returnType,
      transforms: [],
      transformedSchema: site.transformedSchema,
      skipTypeMerging: false,
      args,
    };
    const { plan, variables: firstVariables } = this.planOf(fieldNode, shape, site, operation, args, context, info, delegationContext);
    const request: ExecutionRequest = {
      subgraphName: site.name,
      document: plan.document,
      variables: firstVariables ?? this.variablesOf(plan, args, outer),
      rootValue: (site as { rootValue?: unknown }).rootValue ?? info.rootValue,
      operationName: plan.operationName,
      context,
      info: getGraphQLResolveInfo(info),
      operationType: operation,
    };
    const transformer = new Transformer(delegationContext);
    (transformer as unknown as TransformerState).hasOverlappingAliases = plan.hasOverlappingAliases;
    return transformer.transformResult((await config.executor!(request)) as ExecutionResult);
  }

  /** The variables of a request by `plan`: the caller's (as coerced) and the field's arguments, those the document uses (as GraphQL Tools finalizes them). */
  private variablesOf(plan: Plan, args: Record<string, unknown>, outer: Record<string, unknown> | undefined): Record<string, unknown> {
    const variables: Record<string, unknown> = { ...outer };
    for (const { arg, variable, type } of plan.argVariables) {
      const value = projected(args[arg], type);
      if (value !== undefined) variables[variable] = value;
    }
    const sent: Record<string, unknown> = {};
    for (const name of plan.usedVariables) {
      const given = variables[name];
      const caller = outer?.[name];
      if (given != null) sent[name] = given;
      else if (caller != null) sent[name] = caller;
      if (given === null || caller === null) sent[name] = null;
    }
    return sent;
  }

  /** The plan for this field, shape and site; a plan made now comes with the variables GraphQL Tools gave its request. */
  private planOf(fieldNode: FieldNode, shape: string, site: Subschema, operation: OperationTypeNode, args: Record<string, unknown>, context: Record<string, unknown>, info: GraphQLResolveInfo, delegationContext: DelegationContext): { plan: Plan; variables?: Record<string, unknown> } {
    let plans = this.plans.get(fieldNode);
    if (!plans) this.plans.set(fieldNode, (plans = []));
    const found = plans.find((p) => p.shape === shape && p.site === site && p.operation === info.operation);
    if (found) return { plan: found };
    const created = createRequest({
      subgraphName: site.name,
      fragments: Object.values(info.fragments),
      targetSchema: delegationContext.transformedSchema,
      rootValue: (site as { rootValue?: unknown }).rootValue ?? info.rootValue,
      targetOperationName: info.operation.name?.value,
      targetOperation: operation,
      targetFieldName: info.fieldName,
      fieldNodes: info.fieldNodes,
      context,
      info,
      args,
    });
    const transformer = new Transformer(delegationContext);
    const prepared = transformer.transformRequest(created);
    const outerNames = new Set(info.operation.variableDefinitions?.map((d) => d.variable.name.value));
    const root = (created.document.definitions[0] as OperationDefinitionNode).selectionSet.selections[0] as FieldNode;
    const targetArgs = delegationContext.transformedSchema.getRootType(operation)!.getFields()[info.fieldName]!.args;
    const argVariables = (root.arguments ?? []).flatMap((a) =>
      a.value.kind === Kind.VARIABLE && !outerNames.has(a.value.name.value) ? [{ arg: a.name.value, variable: a.value.name.value, type: targetArgs.find((t) => t.name === a.name.value)!.type }] : [],
    );
    const plan: Plan = {
      operation: info.operation,
      site,
      shape,
      document: prepared.document,
      operationName: prepared.operationName,
      usedVariables: (prepared.document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)?.variableDefinitions ?? []).map((d) => d.variable.name.value),
      argVariables,
      hasOverlappingAliases: (transformer as unknown as TransformerState).hasOverlappingAliases,
    };
    plans.push(plan);
    return { plan, variables: prepared.variables ?? {} };
  }
}

/** An argument's value as GraphQL Tools sends it in a variable (its projectArgumentValue). */
function projected(value: unknown, type: GraphQLInputType): unknown {
  if (value == null) return value;
  if (isNonNullType(type)) return projected(value, type.ofType);
  if (isListType(type)) return (Array.isArray(value) ? value : [value]).map((v) => projected(v, type.ofType));
  if (isInputObjectType(type) && typeof value === 'object') {
    const fields = type.getFields();
    const out: Record<string, unknown> = {};
    for (const key in value as Record<string, unknown>) {
      const field = fields[key];
      if (!field) continue;
      const v = projected((value as Record<string, unknown>)[key], field.type);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }
  switch ((type as { name: string }).name) {
    case 'Boolean':
      return Boolean(value);
    case 'Int':
    case 'Float':
      return Number(value);
    case 'String':
      return String(value);
    default:
      return value;
  }
}
