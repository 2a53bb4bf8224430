import type { Subschema } from '@graphql-tools/delegate';
import type { ExecutionResult } from '@graphql-tools/utils';
import {
  DocumentNode,
  execute,
  FieldNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  GraphQLObjectType,
  GraphQLSchema,
  isLeafType,
  isObjectType,
  isScalarType,
  Kind,
  OperationTypeNode,
  SelectionSetNode,
  visit,
} from 'graphql';
import type { FederationContext } from './context';
import type { GlobalIds } from './routing';

/** How the federation resolves a field of a site's object: as the site answered it, its ids made global, the object's site (`federationSite`), or by resolvers of its own. */
export type ResolvedAs = 'plain' | 'id' | 'site' | 'own';

/** An object's answer as the federation gives it, field by field in the selection's order: copied, its ids made global, the site, an object below. */
interface Shape {
  entries: Array<{ key: string; kind: 'copy' | 'id' | 'site' | 'object'; shape?: Shape }>;
}

/** `__typename`: what the site is asked for an object whose selection was only `federationSite`. */
const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/** A query the federation forwards as it is: its one root field, by an id in its one variable. */
interface ForwardPlan {
  document: DocumentNode;
  operationName: string | undefined;
  responseKey: string;
  variable: string;
  shape: Shape;
}

/** A forwarded query's answer: the result to send, or the site's errors for the stitched execution to report (the site is not asked again). */
export type Forwarded = { result: ExecutionResult } | { site: string; errors: readonly GraphQLError[] } | undefined;

/**
 * The by-id fast path: a query of one root field that routes by the global id in its one variable
 * (`query ($id: ID!) { host(id: $id) { id hostname … } }`), whose selection the federation
 * answers as the site does except for ids and `federationSite` (no other field the federation
 * resolves itself, no abstract types, no arguments or directives below the root), is sent to that
 * site as the caller wrote it (without `federationSite`), the id stripped of its site; the
 * answer's ids are made global (`<site>:<id>`), `federationSite` set, and it is the result, without the stitched schema resolving every field of it.
 * The same answer as the stitched execution, which still takes every other request: one whose
 * site answered with errors gets them reported by it as it would (`errors`, the site not asked
 * again), a partial answer (data and errors) is answered by the stitched execution afresh.
 */
export class ByIdForwarding {
  private readonly plans = new WeakMap<DocumentNode, Map<string | undefined, ForwardPlan | null>>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly sites: ReadonlyMap<string, Subschema>,
    private readonly ids: GlobalIds,
    /** How the federation resolves a field of an object type. */
    private readonly resolvedAs: (type: string, field: string) => ResolvedAs,
    /** Whether a query root field is routed by its arguments alone (the generic root resolver). */
    private readonly routedRoot: (field: string) => boolean,
  ) {}

  /** Executes a validated query or mutation: by the fast path when it takes it, else by the stitched schema. */
  async execute(args: { document: DocumentNode; operationName?: string | undefined; variableValues?: Record<string, unknown> | undefined; contextValue: FederationContext }): Promise<ExecutionResult> {
    const forwarded = await this.forward(args.document, args.operationName, args.variableValues, args.contextValue).catch(() => undefined);
    if (forwarded && 'result' in forwarded) return forwarded.result;
    if (forwarded) args.contextValue.forwarded = forwarded;
    return (await execute({ schema: this.schema, document: args.document, operationName: args.operationName, variableValues: args.variableValues, contextValue: args.contextValue })) as ExecutionResult;
  }

  /**
   * Whether an operation of a validated document is one the fast path forwards as it is (when its
   * id is global and its site linked): its site then checks its cost, as for any request of its own.
   */
  forwards(document: DocumentNode, operationName: string | undefined): boolean {
    return this.planOf(document, operationName) !== null;
  }

  /** The answer to a validated request by the fast path, or undefined for the stitched execution. */
  async forward(document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown> | undefined, ctx: FederationContext): Promise<Forwarded> {
    const plan = this.planOf(document, operationName);
    if (!plan) return undefined;
    const value = variables?.[plan.variable];
    const global = typeof value === 'string' ? this.ids.parse(value) : undefined;
    if (!global || (ctx.site !== undefined && ctx.site !== global.site) || !(global.site in ctx.group.links)) return undefined;
    const site = this.sites.get(global.site);
    if (!site?.executor) return undefined;
    const answer = (await site.executor({ document: plan.document, variables: { [plan.variable]: global.id }, operationName: plan.operationName, context: ctx, operationType: OperationTypeNode.QUERY })) as ExecutionResult;
    const data = answer.data as Record<string, unknown> | null | undefined;
    const errors = answer.errors ?? [];
    if (data?.[plan.responseKey] == null) return errors.length ? { site: global.site, errors } : { result: { data: { [plan.responseKey]: null } } };
    if (errors.length) return undefined;
    return { result: { data: { [plan.responseKey]: this.globalize(data[plan.responseKey], plan.shape, global.site) } } };
  }

  /** A site's answer as the federation gives it: its ids made global, `federationSite` added, in the selection's order. */
  private globalize(value: unknown, shape: Shape, site: string): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.globalize(v, shape, site));
    const object = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const { key, kind, shape: below } of shape.entries) {
      if (kind === 'copy') out[key] = object[key];
      else if (kind === 'id') out[key] = this.globalId(object[key], site);
      else if (kind === 'site') out[key] = site;
      else out[key] = this.globalize(object[key], below!, site);
    }
    return out;
  }

  private globalId(value: unknown, site: string): unknown {
    if (typeof value === 'string') return this.ids.of(site, value);
    return Array.isArray(value) ? value.map((v) => this.globalId(v, site)) : value;
  }

  /** The forward plan of an operation of a parsed (and validated) document, or null when the stitched execution answers it. */
  private planOf(document: DocumentNode, operationName: string | undefined): ForwardPlan | null {
    let byName = this.plans.get(document);
    if (!byName) this.plans.set(document, (byName = new Map()));
    let plan = byName.get(operationName);
    if (plan === undefined) {
      plan = this.plan(document, operationName);
      byName.set(operationName, plan);
    }
    return plan;
  }

  private plan(document: DocumentNode, operationName: string | undefined): ForwardPlan | null {
    const operation = getOperationAST(document, operationName);
    const queryType = this.schema.getQueryType();
    if (!operation || operation.operation !== OperationTypeNode.QUERY || !queryType || operation.directives?.length) return null;
    const definitions = operation.variableDefinitions ?? [];
    if (definitions.length !== 1 || definitions[0]!.directives?.length || definitions[0]!.defaultValue) return null;
    const variable = definitions[0]!.variable.name.value;
    const [root, ...others] = operation.selectionSet.selections;
    if (!root || others.length || root.kind !== Kind.FIELD || root.directives?.length || !this.routedRoot(root.name.value)) return null;
    const field = queryType.getFields()[root.name.value];
    const arg = root.arguments?.[0];
    if (!field || field.args.length !== 1 || root.arguments?.length !== 1 || arg!.value.kind !== Kind.VARIABLE || arg!.value.name.value !== variable) return null;
    const argType = getNullableType(field.args[0]!.type);
    if (!isScalarType(argType) || argType.name !== 'ID' || arg!.name.value !== field.args[0]!.name) return null;
    const type = getNullableType(field.type);
    if (!isObjectType(type) || !root.selectionSet) return null;
    // The site validates the whole document: nothing in it but this operation and the fragments it uses.
    const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    if (document.definitions.length !== fragments.size + 1) return null;
    const used = new Set<string>();
    const shape = this.shapeOf(type, root.selectionSet, fragments, used);
    if (!shape || used.size !== fragments.size) return null;
    // federationSite is the federation's: the site is asked without it (for __typename where nothing else is left).
    const sent = asksSite(shape)
      ? visit(document, {
          Field: (node) => (node.name.value === 'federationSite' ? null : undefined),
          SelectionSet: { leave: (node) => (node.selections.length ? undefined : { ...node, selections: [TYPENAME] }) },
        })
      : document;
    return { document: sent, operationName: operation.name?.value ?? operationName, responseKey: root.alias?.value ?? root.name.value, variable, shape };
  }

  /** What the federation changes of an answer to `selectionSet` on `type`; null when it does more than make ids global. */
  private shapeOf(type: GraphQLObjectType, selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, used: Set<string>): Shape | null {
    const fields = collectFields(type, selectionSet, fragments, used);
    if (!fields) return null;
    const shape: Shape = { entries: [] };
    const keys = new Set<string>();
    for (const node of fields) {
      const key = node.alias?.value ?? node.name.value;
      if (node.directives?.length || node.arguments?.length || keys.has(key)) return null;
      keys.add(key);
      if (node.name.value === '__typename') {
        shape.entries.push({ key, kind: 'copy' });
        continue;
      }
      const field = type.getFields()[node.name.value];
      const kind = field ? this.resolvedAs(type.name, node.name.value) : 'own';
      if (!field || kind === 'own') return null;
      const named = getNamedType(field.type);
      if (kind === 'site') shape.entries.push({ key, kind: 'site' });
      else if (isLeafType(named)) shape.entries.push({ key, kind: kind === 'id' ? 'id' : 'copy' });
      else if (isObjectType(named) && node.selectionSet && kind === 'plain') {
        const child = this.shapeOf(named, node.selectionSet, fragments, used);
        if (!child) return null;
        shape.entries.push({ key, kind: 'object', shape: child });
      } else return null;
    }
    return shape;
  }
}

/** Whether an answer of this shape has a `federationSite`, at any level. */
function asksSite(shape: Shape): boolean {
  return shape.entries.some((e) => e.kind === 'site' || (e.shape !== undefined && asksSite(e.shape)));
}

/**
 * The fields of a selection on an object type, through fragments on that very type (each fragment
 * spread added to `used`); null for a fragment on any other type or with directives. The document
 * is validated: no fragment spreads itself.
 */
function collectFields(type: GraphQLObjectType, selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, used: Set<string>): FieldNode[] | null {
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      fields.push(selection);
      continue;
    }
    if (selection.directives?.length) return null;
    let inner: SelectionSetNode;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (selection.typeCondition && selection.typeCondition.name.value !== type.name) return null;
      inner = selection.selectionSet;
    } else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || fragment.directives?.length || fragment.typeCondition.name.value !== type.name) return null;
      used.add(fragment.name.value);
      inner = fragment.selectionSet;
    }
    const collected = collectFields(type, inner, fragments, used);
    if (!collected) return null;
    fields.push(...collected);
  }
  return fields;
}
