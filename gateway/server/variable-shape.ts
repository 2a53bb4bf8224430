import {
  DocumentNode,
  getOperationAST,
  GraphQLError,
  GraphQLInputType,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  OperationDefinitionNode,
  typeFromAST,
} from 'graphql';
import { jsonInputProblem } from '../../schema/common/bounded-json';

/**
 * A check of an operation's variables against their declared types, ahead of graphql-js, that
 * refuses in one pass, at the first problem, the shapes graphql-js would refuse at a cost
 * proportional to the value's size times its number of errors: graphql-js quotes the value it
 * refuses (`inspect`, every key of an object) into each error, up to fifty of them, so an input
 * object of 100,000 unknown fields held the gateway's event loop for about twenty seconds. Only
 * what graphql-js refuses anyway is refused here, with the same code (BAD_USER_INPUT), naming the
 * place without quoting the value:
 * - a key of an input object that is no field of its type;
 * - an object or a list where a built-in scalar (`String`, `Int`, `ID`…), `DateTimeISO` or an
 *   enum is expected (a `Date`, which a caller in the process may give a `DateTimeISO`, is left);
 * - a `JSON` / `JSONObject` value past the bounds of `jsonInputProblem`.
 * Anything else (a missing field, a string where an Int is expected) is left to graphql-js,
 * whose errors then quote small values only.
 */

/** Scalars that never take an object or a list (a plugin's own scalar might, and is left to graphql-js). */
const FLAT_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID', 'DateTimeISO']);

/** Scalars whose values are JSON of any shape, bounded by `jsonInputProblem`. */
const JSON_SCALARS = new Set(['JSON', 'JSONObject']);

/** The first problem found in `variables` for `operation`'s variable definitions, as a message, or undefined. */
export function variableShapeProblem(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>> | null | undefined): { message: string; variable: string; path: string } | undefined {
  if (!variables || typeof variables !== 'object') return undefined;
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (!Object.prototype.hasOwnProperty.call(variables, name)) continue;
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    if (!type) continue;
    const found = shapeProblem(variables[name], type, name);
    if (found) return { message: `Variable "$${name}" got an invalid value at "${found.path}": ${found.problem}`, variable: name, path: found.path };
  }
  return undefined;
}

/** The `BAD_USER_INPUT` error (HTTP status 400) that refuses an operation for `variableShapeProblem`'s finding. */
export function variableShapeError(found: { message: string; variable: string; path: string }): GraphQLError {
  const details = { variable: found.variable, path: found.path };
  // Raised with its own code (no original error): the gateway keeps it and its details, Yoga's masking too.
  return new GraphQLError(found.message, { extensions: { code: 'BAD_USER_INPUT', details, http: { status: 400 } } });
}

/** The error refusing `variables` of the operation `operationName` of `document` (`variableShapeProblem`), or undefined when they fit or there is no such operation. */
export function variableShapeRefusal(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Readonly<Record<string, unknown>> | null | undefined): GraphQLError | undefined {
  const operation = getOperationAST(document, operationName);
  const found = operation ? variableShapeProblem(schema, operation, variables) : undefined;
  return found ? variableShapeError(found) : undefined;
}

function shapeProblem(value: unknown, type: GraphQLInputType, root: string): { path: string; problem: string } | undefined {
  // An explicit stack: a deeply nested value must not overflow the call stack.
  const stack: Array<[unknown, GraphQLInputType, string]> = [[value, type, root]];
  while (stack.length) {
    const [v, t, path] = stack.pop()!;
    if (v === null || v === undefined) continue;
    const inner = isNonNullType(t) ? t.ofType : t;
    if (isListType(inner)) {
      // graphql-js takes a single value as a list of one.
      if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], inner.ofType, `${path}[${i}]`]);
      else stack.push([v, inner.ofType, path]);
    } else if (isInputObjectType(inner)) {
      if (typeof v !== 'object' || Array.isArray(v)) continue;
      const fields = inner.getFields();
      let unknown: string | undefined;
      let unknownCount = 0;
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        const field = Object.prototype.hasOwnProperty.call(fields, key) ? fields[key] : undefined;
        if (!field) {
          unknown ??= key;
          unknownCount++;
        } else if (!unknown) stack.push([(v as Record<string, unknown>)[key], field.type, `${path}.${key}`]);
      }
      if (unknown !== undefined) {
        const more = unknownCount > 1 ? ` (and ${unknownCount - 1} more unknown fields)` : '';
        return { path: `${path}.${clip(unknown)}`, problem: `Field "${clip(unknown)}" is not defined by type "${inner.name}"${more}` };
      }
    } else if (isScalarType(inner) && JSON_SCALARS.has(inner.name)) {
      const problem = jsonInputProblem(v);
      if (problem) return { path, problem: `Expected type "${inner.name}". JSON input refused: ${problem}` };
    } else if ((isEnumType(inner) || (isScalarType(inner) && FLAT_SCALARS.has(inner.name))) && typeof v === 'object' && !(v instanceof Date)) {
      return { path, problem: `${inner.name} cannot represent ${Array.isArray(v) ? 'a list' : 'an object'}` };
    }
  }
  return undefined;
}

/** A key as it is named in a message: cut to 100 characters (a key may be megabytes long). */
function clip(key: string): string {
  return key.length > 100 ? `${key.slice(0, 100)}…` : key;
}
