import { defaultMergedResolver, ExternalObject, getUnpathedErrors, UNPATHED_ERRORS_SYMBOL } from '@graphql-tools/delegate';
import { FieldNode, FragmentDefinitionNode, getNamedType, GraphQLFieldResolver, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, isLeafType, isObjectType, Kind, SelectionSetNode } from 'graphql';

/**
 * An object of a site's list answer already as the federation answers it: its fields under their
 * response keys, ids global, `federationSite` set. The stitched schema's resolvers read its fields
 * straight (flatAware), with none of GraphQL Tools' per-object and per-field work.
 */
export class FlatObject {
  [key: string]: unknown;
}
// Counted as GraphQL Tools' own (an external object, no errors): the stitching's check of a list a resolver returned passes each one by.
Object.defineProperty(FlatObject.prototype, UNPATHED_ERRORS_SYMBOL, { value: Object.freeze([]) });

/** What the federation's resolver of a field does: reads the site's answer ('copy'), makes its ids global ('id'), says the object's site ('site'). */
export type FieldKind = 'copy' | 'id' | 'site';

/** How one response key of an object is made: copied, its ids made global, the object's site, or an object (or list of them) of its own. */
type Step = { key: string; kind: 'copy' } | { key: string; kind: 'id' } | { key: string; kind: 'site' } | { key: string; kind: 'object'; plan: Plan };

/** The steps that make an object of one type for one selection. */
interface Plan {
  steps: Step[];
}

/** Thrown inside flattening when a value is not a plain answer (an error in it, a key missing): the list takes GraphQL Tools' way. */
const NOT_PLAIN = Symbol('not plain');

/**
 * Site list answers made into FlatObjects in one pass, for selections whose every field is one the
 * federation only reads (GraphQL Tools' defaultMergedResolver), makes global (an ID) or answers
 * with the object's site (`federationSite`). Any other selection (abstract types, directives,
 * fields with resolvers of their own) and any answer with an error in it are left to GraphQL Tools.
 */
export class FlatLists {
  private readonly plans = new WeakMap<FieldNode, { fieldNodes: readonly FieldNode[]; plan: Plan | undefined }>();
  /** What the stitched schema's resolver of each `Type.field` that reads flat objects does. */
  private readonly kinds = new Map<string, FieldKind>();

  /** @param globalized an ID value (or list of them) of `site`, global */
  constructor(private readonly globalized: (site: string, value: unknown) => unknown) {}

  /**
   * Makes the resolvers of the object types of the stitched `schema` (roots aside) read flat
   * objects: each field whose resolver `kindOf` says (by the resolvers given to the stitching:
   * none, GraphQL Tools' defaultMergedResolver; the federation's id or site resolver), in place.
   */
  install(schema: GraphQLSchema, kindOf: (type: string, field: string) => FieldKind | undefined, roots: ReadonlySet<string | undefined>): void {
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || roots.has(type.name)) continue;
      for (const field of Object.values(type.getFields())) {
        const kind = kindOf(type.name, field.name);
        // A field left to GraphQL Tools is read as it is only if the stitching left it its default resolver.
        if (!kind || !field.resolve || (kind === 'copy' && field.resolve !== defaultMergedResolver)) continue;
        field.resolve = flatAware(field.resolve);
        this.kinds.set(`${type.name}.${field.name}`, kind);
      }
    }
  }

  /**
   * The list a site answered for the field being resolved (`info`, a list of objects), flat; undefined
   * when it cannot be (the caller then resolves it as GraphQL Tools does). `parent` is the delegated
   * object holding the list (its unpathed errors say whether the site answered with errors).
   */
  list(parent: ExternalObject, site: string | undefined, info: GraphQLResolveInfo): unknown[] | undefined {
    if (getUnpathedErrors(parent)?.length) return undefined;
    const value = (parent as Record<string, unknown>)[info.fieldNodes[0]!.alias?.value ?? info.fieldName];
    return Array.isArray(value) ? this.flatten(value, site, info) : undefined;
  }

  /**
   * `list`, objects a site answered for the field being resolved (`info`) as GraphQL Tools gave them
   * (each annotated with the site's unpathed errors), flat; undefined when it cannot be.
   */
  flatten(list: unknown[], site: string | undefined, info: GraphQLResolveInfo): unknown[] | undefined {
    if (site === undefined) return undefined;
    const plan = this.planOf(info);
    if (!plan) return undefined;
    try {
      return flattenValue(list, plan, site, this.globalized) as unknown[];
    } catch (e) {
      if (e === NOT_PLAIN) return undefined;
      throw e;
    }
  }

  /** The plan for the field being resolved (kept per field node of the parsed request), undefined if its selection is not flat. */
  private planOf(info: GraphQLResolveInfo): Plan | undefined {
    const type = getNamedType(info.returnType);
    if (!isObjectType(type) || info.fieldNodes.some((n) => n.directives?.length)) return undefined;
    const first = info.fieldNodes[0]!;
    const kept = this.plans.get(first);
    if (kept && kept.fieldNodes.length === info.fieldNodes.length && kept.fieldNodes.every((n, i) => n === info.fieldNodes[i])) return kept.plan;
    const plan = this.compile(type, info.fieldNodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : [])), info.fragments);
    this.plans.set(first, { fieldNodes: info.fieldNodes, plan });
    return plan;
  }

  /** The plan for objects of `type` under `selectionSets`, undefined if any of it is not flat. */
  private compile(type: GraphQLObjectType, selectionSets: SelectionSetNode[], fragments: Record<string, FragmentDefinitionNode>): Plan | undefined {
    const byKey = new Map<string, FieldNode[]>();
    const collect = (set: SelectionSetNode, seen: Set<string>): boolean => {
      for (const selection of set.selections) {
        if (selection.directives?.length) return false;
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value === '__typename') continue;
          const key = selection.alias?.value ?? selection.name.value;
          byKey.set(key, [...(byKey.get(key) ?? []), selection]);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          if (selection.typeCondition && selection.typeCondition.name.value !== type.name) return false;
          if (!collect(selection.selectionSet, seen)) return false;
        } else {
          const fragment = fragments[selection.name.value];
          if (!fragment || fragment.typeCondition.name.value !== type.name) return false;
          if (seen.has(fragment.name.value)) continue;
          seen.add(fragment.name.value);
          if (!collect(fragment.selectionSet, seen)) return false;
        }
      }
      return true;
    };
    const seen = new Set<string>();
    if (!selectionSets.every((set) => collect(set, seen))) return undefined;
    const steps: Step[] = [];
    const fields = type.getFields();
    for (const [key, nodes] of byKey) {
      const field = fields[nodes[0]!.name.value];
      const kind = field ? this.kinds.get(`${type.name}.${field.name}`) : undefined;
      if (!field || !kind) return undefined;
      const named = getNamedType(field.type);
      if (kind !== 'copy' || isLeafType(named)) {
        steps.push({ key, kind });
        continue;
      }
      if (!isObjectType(named)) return undefined;
      const plan = this.compile(named, nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : [])), fragments);
      if (!plan) return undefined;
      steps.push({ key, kind: 'object', plan });
    }
    return { steps };
  }
}

/** A value of an object field (an object, a list of them, null) made flat. */
function flattenValue(value: unknown, plan: Plan, site: string, globalized: (site: string, value: unknown) => unknown): unknown {
  if (value === null) return null;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = flattenValue(value[i], plan, site, globalized);
    return out;
  }
  if (typeof value !== 'object' || value instanceof Error || (value as Record<symbol, unknown[] | undefined>)[UNPATHED_ERRORS_SYMBOL]?.length) throw NOT_PLAIN;
  const source = value as Record<string, unknown>;
  const flat = new FlatObject();
  for (const step of plan.steps) {
    if (step.kind === 'site') {
      flat[step.key] = site;
      continue;
    }
    const v = source[step.key];
    if (v === undefined || (typeof v === 'object' && v !== null && v instanceof Error)) throw NOT_PLAIN;
    flat[step.key] = step.kind === 'copy' ? v : step.kind === 'id' ? globalized(site, v) : flattenValue(v, step.plan, site, globalized);
  }
  return flat;
}

/** `resolve`, except on a FlatObject: its value under the field's response key. */
export function flatAware<TContext>(resolve: GraphQLFieldResolver<unknown, TContext>): GraphQLFieldResolver<unknown, TContext> {
  return (parent, args, ctx, info) => (parent instanceof FlatObject ? parent[info.fieldNodes[0]!.alias?.value ?? info.fieldName] : resolve(parent, args, ctx, info));
}
