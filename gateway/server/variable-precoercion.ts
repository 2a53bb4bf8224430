import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  getNamedType,
  GraphQLInputObjectType,
  GraphQLInputType,
  GraphQLResolveInfo,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  OperationDefinitionNode,
  typeFromAST,
  VariableDefinitionNode,
} from 'graphql';

/**
 * Coercion of large list variables (the up to 1,000 requests of one `allocateMany`) ahead of
 * graphql-js, by a coercer compiled once per input type: graphql-js's own `coerceInputValue`
 * builds a path and runs several type checks for every field of every item, which took about
 * 15 % of the gateway's busy CPU in `bench:placement`'s batches. Only a value that graphql-js
 * would accept as it is takes this path, and it gets the same coerced value (fields in their
 * declared order, defaults filled in, scalars and enums through their own `parseValue`); any
 * value that is not plain (a missing required field, an unknown field, a scalar its type
 * refuses, a one-of type) is left to graphql-js, which answers it with its usual errors.
 */

/** What a compiled coercer returns for a value it leaves to graphql-js. */
export const LEAVE = Symbol('leave to graphql-js');

/** Coerces a JSON value to the internal value of an input type, or returns LEAVE. */
export type InputCoercer = (value: unknown) => unknown;

/** A coercer for `type` that gives what graphql-js's `coerceInputValue` gives for a value it accepts, and LEAVE otherwise. */
export function compileInputCoercer(type: GraphQLInputType, objects = new Map<string, InputCoercer>()): InputCoercer {
  if (isNonNullType(type)) {
    const inner = compileInputCoercer(type.ofType, objects);
    return (value) => (value == null ? LEAVE : inner(value));
  }
  if (isListType(type)) {
    const item = compileInputCoercer(type.ofType, objects);
    return (value) => {
      if (value == null) return null;
      if (!Array.isArray(value)) {
        // graphql-js takes a single value as a list of one (and other iterables as lists).
        if (typeof value === 'object') return LEAVE;
        const one = item(value);
        return one === LEAVE ? LEAVE : [one];
      }
      const out = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        const v = item(value[i]);
        if (v === LEAVE) return LEAVE;
        out[i] = v;
      }
      return out;
    };
  }
  if (isInputObjectType(type)) {
    const known = objects.get(type.name);
    if (known) return known;
    // Compiled on first use, so that a recursive input type refers to itself.
    let compiled: InputCoercer | undefined;
    const coercer: InputCoercer = (value) => (compiled ??= compileInputObject(type, objects))(value);
    objects.set(type.name, coercer);
    return coercer;
  }
  if (isEnumType(type) || isScalarType(type)) {
    return (value) => {
      if (value == null) return null;
      try {
        const parsed: unknown = type.parseValue(value);
        return parsed === undefined ? LEAVE : parsed;
      } catch {
        return LEAVE;
      }
    };
  }
  return () => LEAVE;
}

function compileInputObject(type: GraphQLInputObjectType, objects: Map<string, InputCoercer>): InputCoercer {
  if (type.isOneOf) return () => LEAVE;
  const fields = Object.values(type.getFields()).map((f) => ({ name: f.name, defaultValue: f.defaultValue as unknown, required: isNonNullType(f.type), coerce: compileInputCoercer(f.type, objects) }));
  return (value) => {
    if (value == null) return null;
    if (typeof value !== 'object' || Array.isArray(value)) return LEAVE;
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let given = 0;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      const v = input[field.name];
      if (v === undefined) {
        if (field.defaultValue !== undefined) out[field.name] = field.defaultValue;
        else if (field.required) return LEAVE;
        continue;
      }
      given++;
      const coerced = field.coerce(v);
      if (coerced === LEAVE) return LEAVE;
      out[field.name] = coerced;
    }
    // A key that is no field (or one given as undefined) is graphql-js's to answer.
    let keys = 0;
    for (const key in input) if (Object.prototype.hasOwnProperty.call(input, key)) keys++;
    return keys === given ? out : LEAVE;
  };
}

/** Whether `type` is a list (nullable or not) of a type named in `names`. */
function isListOf(type: GraphQLInputType, names: ReadonlySet<string>): boolean {
  const unwrapped = isNonNullType(type) ? type.ofType : type;
  return isListType(unwrapped) && names.has(getNamedType(type).name);
}

/** Where a request's pre-coerced variables are kept on its context. */
const PRECOERCED = Symbol('pre-coerced variables');

/** The pre-coerced value of the variable an argument of the current field is given, if it was pre-coerced for this request. */
export function precoercedArgument(context: object, info: GraphQLResolveInfo, argument: string): unknown {
  const values = (context as { [PRECOERCED]?: Map<string, unknown> })[PRECOERCED];
  if (!values) return undefined;
  const node = info.fieldNodes[0]?.arguments?.find((a) => a.name.value === argument);
  return node?.value.kind === Kind.VARIABLE ? values.get(node.value.name.value) : undefined;
}

/**
 * Apollo plugin: pre-coerces the variables of the types named in `inputTypes` that are lists of
 * them, for the fields whose resolvers read them with `precoercedArgument` — the only fields of
 * the schema taking a list of such a type (see `precoercionTargets`). graphql-js is then given an
 * empty list in their place (nothing to coerce); every other reader of the request's variables
 * (hooks, logs) sees them as they were sent.
 */
export function variablePrecoercionPlugin<TContext extends BaseContext>(inputTypes: readonly string[]): ApolloServerPlugin<TContext> {
  const names = new Set(inputTypes);
  const coercers = new WeakMap<GraphQLSchema, Map<string, InputCoercer>>();
  /** Per variable definition, its coercer, or null when it is not one this plugin takes. */
  const plans = new WeakMap<VariableDefinitionNode, InputCoercer | null>();
  const planOf = (schema: GraphQLSchema, definition: VariableDefinitionNode): InputCoercer | null => {
    let plan = plans.get(definition);
    if (plan !== undefined) return plan;
    plan = null;
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    if (type && isListOf(type, names)) {
      let objects = coercers.get(schema);
      if (!objects) coercers.set(schema, (objects = new Map()));
      plan = compileInputCoercer(type, objects);
    }
    plans.set(definition, plan);
    return plan;
  };
  return {
    async requestDidStart() {
      return {
        async executionDidStart(rc) {
          const operation: OperationDefinitionNode | undefined = rc.operation;
          const request = rc.request as { variables?: Record<string, unknown> };
          const variables = request.variables;
          if (!operation?.variableDefinitions?.length || !variables) return;
          let values: Map<string, unknown> | undefined;
          let given: Record<string, unknown> | undefined;
          for (const definition of operation.variableDefinitions) {
            const name = definition.variable.name.value;
            const raw = variables[name];
            if (!Array.isArray(raw) || raw.length === 0) continue;
            const plan = planOf(rc.schema, definition);
            if (!plan) continue;
            const coerced = plan(raw);
            if (coerced === LEAVE) continue;
            (values ??= new Map()).set(name, coerced);
            (given ??= { ...variables })[name] = [];
          }
          if (!values || !given) return;
          (rc.contextValue as { [PRECOERCED]?: Map<string, unknown> })[PRECOERCED] = values;
          handOnce(request, given, variables);
          return {
            async executionDidEnd() {
              if (Object.getOwnPropertyDescriptor(request, 'variables')?.get) setVariables(request, variables);
            },
          };
        },
      };
    },
  };
}

/**
 * Makes the next read of `request.variables` (Apollo's, as it calls graphql-js) give `given`,
 * and every later one the variables as sent. Should another hook read them first, it gets the
 * light ones and graphql-js the full ones: the resolvers read the pre-coerced values either way.
 */
function handOnce(request: { variables?: Record<string, unknown> }, given: Record<string, unknown>, variables: Record<string, unknown>): void {
  Object.defineProperty(request, 'variables', {
    configurable: true,
    enumerable: true,
    get() {
      setVariables(request, variables);
      return given;
    },
    set(value: Record<string, unknown>) {
      setVariables(request, value);
    },
  });
}

function setVariables(request: { variables?: Record<string, unknown> }, value: Record<string, unknown> | undefined): void {
  Object.defineProperty(request, 'variables', { value, writable: true, configurable: true, enumerable: true });
}

/** The fields' arguments of `schema` that take a list of one of `inputTypes` (`Type.field(argument)`): those whose resolvers must read `precoercedArgument`. */
export function precoercionTargets(schema: GraphQLSchema, inputTypes: readonly string[]): string[] {
  const names = new Set(inputTypes);
  const found: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) if (isListOf(field.type, names)) found.push(`${type.name}.${field.name}`);
    } else if ('getFields' in type) {
      for (const field of Object.values(type.getFields())) for (const arg of field.args) if (isListOf(arg.type, names)) found.push(`${type.name}.${field.name}(${arg.name})`);
    }
  }
  for (const directive of schema.getDirectives()) for (const arg of directive.args) if (isListOf(arg.type, names)) found.push(`@${directive.name}(${arg.name})`);
  return found;
}
