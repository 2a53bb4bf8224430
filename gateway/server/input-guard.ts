import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ASTNode, ASTVisitor, DocumentNode, GraphQLError, GraphQLSchema, Kind, OperationDefinitionNode, validate, ValidationContext, ValueNode, type ExecutionArgs } from 'graphql';
import { BadInputError } from '../errors';
import { variableShapeError, variableShapeProblem, variableShapeRefusal } from './variable-shape';

/**
 * Text the gateway refuses in any input, wherever it comes from (an argument written in the
 * query, a variable, a field of an input object, a custom scalar such as `JSON` or `ID`, an object
 * key inside a JSON value): a NUL character, which PostgreSQL cannot store in text or jsonb, and a
 * lone UTF-16 surrogate, which is not Unicode at all. Checked once for the whole operation, before
 * any resolver runs — by a validation rule for the literals of the document and by a check of the
 * variables — so no resolver, service or driver ever sees such a string.
 */

/** Where a refused string was found (`createGroup(input.name)`, `$input.layers[0].key`) and what is wrong with it. */
export interface UnsafeInput {
  path: string;
  problem: string;
}

/** At most this many problems are named in one error. */
const MAX_REPORTED = 10;
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What makes `text` unfit for storage, or undefined when it is fine. */
export function unsafeTextProblem(text: string): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

/**
 * True when a string or object key of a JSON value may be unfit for storage (holds a NUL or a
 * surrogate): the check every request's variables pass, building no paths (those are made only
 * for a value that fails it).
 */
function holdsSuspectText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (SUSPECT.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const key of Object.keys(v)) {
        if (SUSPECT.test(key)) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** The refused strings (and object keys) of a JSON value such as a request's variables, each with its path under `root`. */
export function unsafeStringsIn(value: unknown, root: string): UnsafeInput[] {
  if (!holdsSuspectText(value)) return [];
  const found: UnsafeInput[] = [];
  // An explicit stack: a deeply nested JSON body must not overflow the call stack.
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length && found.length < MAX_REPORTED) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = unsafeTextProblem(v);
      if (problem) found.push({ path, problem });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        const problem = unsafeTextProblem(key);
        if (problem) found.push({ path: `${path}${keyPath(key)}`, problem: `has a key that ${problem}` });
        stack.push([child, `${path}${keyPath(key)}`]);
      }
    }
  }
  return found;
}

/** The refused strings of a request's variables, with paths such as `$input.name`. */
export function unsafeVariables(variables: Readonly<Record<string, unknown>> | null | undefined): UnsafeInput[] {
  if (!variables || typeof variables !== 'object') return [];
  const found: UnsafeInput[] = [];
  for (const [name, value] of Object.entries(variables)) {
    found.push(...unsafeStringsIn(value, `$${name}`));
    if (found.length >= MAX_REPORTED) break;
  }
  return found.slice(0, MAX_REPORTED);
}

/** The `BAD_USER_INPUT` error that refuses an operation, naming each place (HTTP status 400 on `/graphql`). */
export function unsafeInputError(found: UnsafeInput[], nodes?: readonly ASTNode[]): GraphQLError {
  const message = `Invalid input: ${found.map((f) => `${f.path} ${f.problem}`).join('; ')} (text may not contain NUL characters or lone surrogates)`;
  const details = { problems: found };
  return new GraphQLError(message, { nodes, extensions: { code: 'BAD_USER_INPUT', details, http: { status: 400 } }, originalError: new BadInputError(message, details) });
}

/**
 * Validation rule: refuses the operation when a string written in the document (an argument of a
 * field or directive, at any depth of an input object or list, or a variable's default value) is
 * unfit for storage. One error per argument, naming its path, e.g. `createGroup(input.name)`.
 */
export function SafeInputTextRule(context: ValidationContext): ASTVisitor {
  return {
    Argument(node, _key, _parent, _path, ancestors) {
      const owner = [...ancestors].reverse().find((a): a is ASTNode => !Array.isArray(a) && ((a as ASTNode).kind === Kind.FIELD || (a as ASTNode).kind === Kind.DIRECTIVE)) as { kind: Kind; name: { value: string } } | undefined;
      const label = owner ? `${owner.kind === Kind.DIRECTIVE ? '@' : ''}${owner.name.value}` : '';
      const found = unsafeLiteralStrings(node.value, node.name.value).map((f) => ({ ...f, path: `${label}(${f.path})` }));
      if (found.length) context.reportError(unsafeInputError(found, [node]));
    },
    VariableDefinition(node) {
      if (!node.defaultValue) return;
      const found = unsafeLiteralStrings(node.defaultValue, `$${node.variable.name.value}`).map((f) => ({ ...f, path: `default of ${f.path}` }));
      if (found.length) context.reportError(unsafeInputError(found, [node]));
    },
  };
}

/** The literal checks of documents already checked (the socket limits hand the same document for the same source). */
const checkedLiterals = new WeakMap<DocumentNode, readonly GraphQLError[]>();

/**
 * For graphql-ws `onSubscribe`: the execution arguments of an operation (or the errors already
 * found), refused when its variables do not fit their types (`variableShapeProblem`), or when
 * its variables or the strings written in its document are unfit for storage.
 */
export function guardExecutionArgs(args: ExecutionArgs | readonly GraphQLError[]): ExecutionArgs | readonly GraphQLError[] {
  if (!('document' in args)) return args;
  const shape = variableShapeRefusal(args.schema, args.document, args.operationName, args.variableValues);
  if (shape) return [shape];
  const found = unsafeVariables(args.variableValues);
  if (found.length) return [unsafeInputError(found)];
  let literals = checkedLiterals.get(args.document);
  if (!literals) checkedLiterals.set(args.document, (literals = validate(args.schema, args.document, [SafeInputTextRule])));
  return literals.length ? literals : args;
}

/**
 * Apollo plugin: refuses an operation whose variables do not fit their types in a way graphql-js
 * would take long to say (`variableShapeProblem`), or hold a string unfit for storage, before it
 * executes.
 */
export function inputGuardPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  const listener = {
    async didResolveOperation(requestContext: { request: { variables?: Record<string, unknown> }; operation?: OperationDefinitionNode; schema: GraphQLSchema }) {
      const shape = requestContext.operation ? variablesRefusal(requestContext.schema, requestContext.operation, requestContext.request.variables) : undefined;
      if (shape) throw shape;
      const found = unsafeVariables(requestContext.request.variables);
      if (found.length) throw unsafeInputError(found);
    },
  };
  return { requestDidStart: async () => listener };
}

/** The error refusing variables that do not fit their types (`variableShapeProblem`), or undefined. */
function variablesRefusal(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>> | null | undefined): GraphQLError | undefined {
  const found = variableShapeProblem(schema, operation, variables);
  return found ? variableShapeError(found) : undefined;
}

function unsafeLiteralStrings(value: ValueNode, root: string): UnsafeInput[] {
  const found: UnsafeInput[] = [];
  const stack: Array<[ValueNode, string]> = [[value, root]];
  while (stack.length && found.length < MAX_REPORTED) {
    const [v, path] = stack.pop()!;
    if (v.kind === Kind.STRING) {
      const problem = unsafeTextProblem(v.value);
      if (problem) found.push({ path, problem });
    } else if (v.kind === Kind.LIST) {
      for (let i = v.values.length - 1; i >= 0; i--) stack.push([v.values[i]!, `${path}[${i}]`]);
    } else if (v.kind === Kind.OBJECT) {
      for (let i = v.fields.length - 1; i >= 0; i--) stack.push([v.fields[i]!.value, `${path}.${v.fields[i]!.name.value}`]);
    }
  }
  return found;
}

/** `.key` for a plain key, `["…"]` (JSON-escaped) for any other. */
function keyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
