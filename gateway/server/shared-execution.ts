import { createSourceEventStream, execute, ExecutionArgs, ExecutionResult, GraphQLError, Kind, OperationDefinitionNode, print, subscribe } from 'graphql';

/**
 * Subscription fields whose results depend only on the event, never on who asks: authorization
 * happens once, when the subscription starts. Their events are executed once per distinct
 * query and shared by every subscriber that asked the same query.
 */
export const SHARED_SUBSCRIPTION_FIELDS: ReadonlySet<string> = new Set(['hostMetrics', 'environmentMetrics', 'siteMetrics']);

/** Results of one event, by query text + variables. */
const resultsByEvent = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

/**
 * graphql-ws `subscribe`: like graphql-js `subscribe`, except that for the shared fields each
 * event is executed once per distinct query instead of once per subscriber (1,000 subscribers
 * of one host's metrics cost one execution per sample, not 1,000).
 */
export async function sharedSubscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const field = rootField(args);
  if (!field || !SHARED_SUBSCRIPTION_FIELDS.has(field)) return subscribe(args);
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in (source as object))) return source as ExecutionResult;
  const it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const key = `${args.operationName ?? ''}\n${JSON.stringify(args.variableValues ?? {})}\n${print(args.document)}`;
  const resultFor = (payload: unknown): Promise<ExecutionResult> => {
    if (typeof payload !== 'object' || payload === null) return Promise.resolve(execute({ ...args, rootValue: payload }));
    let byQuery = resultsByEvent.get(payload);
    if (!byQuery) resultsByEvent.set(payload, (byQuery = new Map()));
    let result = byQuery.get(key);
    if (!result) byQuery.set(key, (result = Promise.resolve(execute({ ...args, rootValue: payload }))));
    return result;
  };
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: async () => {
      const r = await it.next();
      return r.done ? { value: undefined, done: true } : { value: await resultFor(r.value), done: false };
    },
    return: async () => {
      await it.return?.();
      return { value: undefined, done: true };
    },
    throw: async (e?: unknown) => {
      await it.return?.();
      throw e instanceof Error ? e : new GraphQLError(String(e));
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** The first root field of the operation to run, when it is a subscription. */
function rootField(args: ExecutionArgs): string | undefined {
  const ops = args.document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = args.operationName ? ops.find((o) => o.name?.value === args.operationName) : ops[0];
  if (op?.operation !== 'subscription') return undefined;
  const first = op.selectionSet.selections[0];
  return first?.kind === Kind.FIELD ? first.name.value : undefined;
}
