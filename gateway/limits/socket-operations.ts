import { ExecutionArgs, getOperationAST, GraphQLError, GraphQLSchema, parse } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import type { Principal } from '../auth/principal';
import type { RequestLimits } from './request-limits';

/** The graphql-ws close code of a socket refused over a connection cap (after its handshake: the anonymous cap). */
export const CLOSE_RATE_LIMITED = 4429;

/** What the gateway keeps on each graphql-ws socket. */
interface SocketExtra {
  address: string;
  actor?: Principal;
}

/**
 * graphql-ws `onSubscribe`: the limits of HTTP operations for one operation on a socket (shape,
 * anonymous introspection, the caller's rate) and the cap of operations running on the socket
 * (`running` counts this one). Returns the refusal as errors (the operation gets an `error`
 * message, the socket stays open), or the parsed and validated operation to run.
 */
export function limitSocketOperation(limits: RequestLimits, schema: GraphQLSchema, payload: SubscribePayload, extra: SocketExtra, running: number): ExecutionArgs | readonly GraphQLError[] {
  try {
    limits.checkSocketOperations(running);
    const request = { source: payload.query, variables: payload.variables, operationName: payload.operationName };
    // A source that does not parse: parse throws its syntax error.
    const document = limits.checkOperation(schema, request) ?? parse(payload.query);
    // The rate first: a flood is refused before any more work.
    const operation = getOperationAST(document, payload.operationName);
    if (operation) limits.checkRate(operation.operation, { actor: extra.actor, address: extra.address });
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
