import { ExecutionArgs, getOperationAST, GraphQLError, GraphQLSchema, OperationTypeNode, parse } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import type { Principal } from '../auth/principal';
import type { RefusalLog } from './refusal-log';
import type { RequestLimits } from './request-limits';

/**
 * The answer to a subscription without a token: every subscription field needs one. Built once: a
 * flood of them costs no error (and no stack trace) each.
 */
const ANONYMOUS_SUBSCRIPTION: readonly GraphQLError[] = Object.freeze([new GraphQLError('Subscriptions need a token: connect with one (connection_init payload { authorization: "Bearer …" })', { extensions: { code: 'UNAUTHENTICATED' } })]);

/** What the gateway keeps on each graphql-ws socket. */
interface SocketExtra {
  address: string;
  actor?: Principal;
}

/**
 * graphql-ws `onSubscribe`: the limits of HTTP operations for one operation on a socket (shape,
 * anonymous introspection, the caller's rate), the refusal of subscriptions without a token
 * (UNAUTHENTICATED, counted in `refusals`) and the cap of operations running on the socket
 * (`running` counts this one). Resolves with the refusal as errors (the operation gets an `error`
 * message, the socket stays open), or the parsed and validated operation to run.
 */
export async function limitSocketOperation(limits: RequestLimits, schema: GraphQLSchema, payload: SubscribePayload, extra: SocketExtra, running: number, refusals?: RefusalLog): Promise<ExecutionArgs | readonly GraphQLError[]> {
  try {
    limits.checkSocketOperations(running);
    const request = { source: payload.query, variables: payload.variables, operationName: payload.operationName };
    // A source that does not parse: parse throws its syntax error.
    const document = limits.checkOperation(schema, request) ?? parse(payload.query);
    // The rate, then a subscription without a token: a flood is refused before any more work.
    const operation = getOperationAST(document, payload.operationName);
    if (operation) {
      await limits.checkRate(operation.operation, { actor: extra.actor, address: extra.address });
      if (operation.operation === OperationTypeNode.SUBSCRIPTION && (!extra.actor || extra.actor.kind === 'anonymous')) {
        refusals?.count('subscriptions without a token');
        return ANONYMOUS_SUBSCRIPTION;
      }
    }
    const errors = limits.validate(schema, document);
    if (errors.length) return errors;
    limits.checkIntrospection(document, extra.actor);
    return { schema, document, operationName: payload.operationName, variableValues: payload.variables };
  } catch (e) {
    if (!(e instanceof GraphQLError)) throw e;
    // Over a socket there is no HTTP status: the code and details only.
    const { http: _http, ...extensions } = e.extensions;
    return [new GraphQLError(e.message, { extensions })];
  }
}
