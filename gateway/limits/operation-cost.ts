import {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLField,
  GraphQLNamedType,
  GraphQLSchema,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationRule,
  valueFromAST,
  valueFromASTUntyped,
} from 'graphql';

/** The size assumed for a list field that takes no `first` (a layer's children, a host's shares…). */
export const ASSUMED_LIST_SIZE = 5;

/** The cost of an introspection field (`__schema`, `__type`): a fixed price, whatever it selects. */
const INTROSPECTION_COST = 100;

/** An operation's estimated cost and the items of its list arguments. */
export interface OperationCost {
  /**
   * Each field costs 1 plus its selection, times the size of the list it returns: its `first`
   * argument (a page), `ASSUMED_LIST_SIZE` for other lists (the `edges`/`nodes` of a connection
   * count once: the page size is already counted), and times the length of each list argument (a
   * batch of 1,000 requests costs 1,000 times one).
   */
  cost: number;
  /** The lengths of every field's list arguments, summed over the operation (aliases included). */
  batchItems: number;
}

/**
 * Estimates `operation`'s cost before it runs, from the schema and the request's variables
 * (fragments are priced once each, so nesting them does not make this slow).
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): OperationCost {
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const priced = new Map<string, OperationCost>();
  const root = schema.getRootType(operation.operation);
  if (!root) return { cost: 0, batchItems: 0 };
  // A variable the request leaves out takes its default from the operation.
  variables = { ...variables };
  for (const d of operation.variableDefinitions ?? []) if (variables[d.variable.name.value] === undefined && d.defaultValue) variables[d.variable.name.value] = valueFromASTUntyped(d.defaultValue);

  const selectionCost = (set: SelectionSetNode | undefined, parent: GraphQLNamedType, visiting: Set<string>): OperationCost => {
    const total = { cost: 0, batchItems: 0 };
    const add = (c: OperationCost) => {
      total.cost += c.cost;
      total.batchItems += c.batchItems;
    };
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) add(fieldCost(s, parent, visiting));
      else if (s.kind === Kind.INLINE_FRAGMENT) add(selectionCost(s.selectionSet, (s.typeCondition && schema.getType(s.typeCondition.name.value)) || parent, visiting));
      else {
        const name = s.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        let c = priced.get(name);
        if (!c) {
          visiting.add(name);
          c = selectionCost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? parent, visiting);
          visiting.delete(name);
          priced.set(name, c);
        }
        add(c);
      }
    }
    return total;
  };

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType, visiting: Set<string>): OperationCost => {
    const name = node.name.value;
    if (name === '__typename') return { cost: 0, batchItems: 0 };
    if (name.startsWith('__')) return { cost: INTROSPECTION_COST, batchItems: 0 };
    if (!isObjectType(parent) && !isInterfaceType(parent)) return { cost: 0, batchItems: 0 };
    const field = parent.getFields()[name];
    if (!field) return { cost: 0, batchItems: 0 };
    const args = argumentValues(field, node, variables);
    let factor = 1;
    let batchItems = 0;
    for (const value of Object.values(args)) {
      if (!Array.isArray(value)) continue;
      batchItems += value.length;
      factor *= Math.max(1, value.length);
    }
    const first = args.first;
    if (typeof first === 'number') factor *= Math.max(1, first);
    else if (isListType(getNullableType(field.type)) && !(parent.name.endsWith('Connection') && (name === 'edges' || name === 'nodes'))) factor *= ASSUMED_LIST_SIZE;
    const inner = node.selectionSet ? selectionCost(node.selectionSet, getNamedType(field.type), visiting) : { cost: 0, batchItems: 0 };
    return { cost: factor * (1 + inner.cost), batchItems: batchItems + inner.batchItems };
  };

  return selectionCost(operation.selectionSet, root, new Set());
}

/**
 * A validation rule pricing, with `operationCost` and the request's `variables`, the operation the
 * request runs (the one named `operationName`; each, when none is named) and handing its price to
 * `check`, which throws to refuse it. GraphQL Armor's cost limit reads only literal `first`/`last`
 * arguments: this one also reads variables and defaults, lists without `first` and batch inputs.
 */
export function listCostRule(variables: Record<string, unknown>, operationName: string | null | undefined, check: (price: OperationCost) => void): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      if (!operationName || node.name?.value === operationName) check(operationCost(context.getSchema(), context.getDocument(), node, variables));
      return false;
    },
  });
}

/** A field's argument values: literals, variables, defaults (a value that does not coerce is left out: validation refuses it). */
function argumentValues(field: GraphQLField<unknown, unknown>, node: FieldNode, variables: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const arg of field.args) {
    const given = node.arguments?.find((a) => a.name.value === arg.name);
    if (!given) {
      if (arg.defaultValue !== undefined) values[arg.name] = arg.defaultValue;
      continue;
    }
    if (given.value.kind === Kind.VARIABLE) {
      const v = variables[given.value.name.value];
      if (v !== undefined) values[arg.name] = v;
      else if (arg.defaultValue !== undefined) values[arg.name] = arg.defaultValue;
      continue;
    }
    const v = valueFromAST(given.value, arg.type, variables);
    if (v !== undefined) values[arg.name] = v;
  }
  return values;
}
