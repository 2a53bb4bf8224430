import { GraphQLScalarType } from 'graphql';
import { GraphQLJSON as UnboundedJSON, GraphQLJSONObject as UnboundedJSONObject } from 'graphql-scalars';

/** Levels of nesting (objects and lists) a JSON input may have at most. */
export const MAX_JSON_DEPTH = 32;

/** Characters a JSON input may have at most, as JSON text. */
export const MAX_JSON_CHARS = 64 * 1024;

const TOO_LONG = `it is longer than ${MAX_JSON_CHARS} characters as JSON`;

/**
 * What is wrong with a JSON input (a resource's attributes, an environment's config, a layer's
 * property value…), or undefined when it is within the bounds: nested at most MAX_JSON_DEPTH
 * levels, at most MAX_JSON_CHARS characters as JSON text. Walked with an explicit stack and
 * stopped at the first bound passed: a value nested a hundred thousand levels deep, which would
 * overflow any recursive walk (JSON.stringify, a jsonb cast), and one of a hundred thousand keys
 * cost no more than one at the bound.
 */
export function jsonInputProblem(value: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  let chars = 0;
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') chars += v.length + 2;
    else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_JSON_DEPTH) return `it is nested more than ${MAX_JSON_DEPTH} levels deep`;
      chars += 2;
      if (Array.isArray(v)) {
        chars += v.length;
        if (chars > MAX_JSON_CHARS) return TOO_LONG;
        for (const item of v) stack.push([item, depth + 1]);
      } else {
        // Key by key, the bound checked at each: an object of 100,000 keys is refused having read the first few thousand.
        for (const key in v) {
          if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
          chars += key.length + 4;
          if (chars > MAX_JSON_CHARS) return TOO_LONG;
          stack.push([(v as Record<string, unknown>)[key], depth + 1]);
        }
      }
    } else chars += String(v).length;
    if (chars > MAX_JSON_CHARS) return TOO_LONG;
  }
  return undefined;
}

function bounded<T>(value: T): T {
  const problem = jsonInputProblem(value);
  if (problem) throw new TypeError(`JSON input refused: ${problem}`);
  return value;
}

function boundedScalar(scalar: GraphQLScalarType): GraphQLScalarType {
  const config = scalar.toConfig();
  return new GraphQLScalarType({
    ...config,
    parseValue: (value) => bounded(config.parseValue!(value)),
    parseLiteral: (ast, variables) => bounded(config.parseLiteral!(ast, variables)),
  });
}

/**
 * The `JSON` scalar (graphql-scalars'), its inputs bounded by `jsonInputProblem`: a value past
 * the bounds is refused while the operation's variables and arguments are read, before any
 * resolver runs (BAD_USER_INPUT for a variable, GRAPHQL_VALIDATION_FAILED for a literal).
 */
export const GraphQLJSON = boundedScalar(UnboundedJSON);

/** The `JSONObject` scalar (graphql-scalars'), its inputs bounded as `GraphQLJSON`'s are. */
export const GraphQLJSONObject = boundedScalar(UnboundedJSONObject);
