import { DocumentNode, GraphQLError, GraphQLErrorExtensions, GraphQLSchema, OperationTypeNode, validate, visit } from 'graphql';
import type { Principal } from '../auth/principal';
import type { GatewayConfig } from '../config/config';
import { checkOperationLimits, OperationLimits, OperationRequest } from './operation-limits';
import { CAP_RETRY_SECONDS, SocketRefusal } from './socket-admission';
import { RateBuckets, TokenBuckets } from './token-buckets';

/** The `extensions.code` of a request refused for going too fast, or over a connection cap. */
export const RATE_LIMITED = 'RATE_LIMITED';

/** Documents kept parsed, by source (the oldest goes first). */
const KEPT_DOCUMENTS = 1000;

/** Introspection root fields: a token is needed for them when anonymous introspection is off. */
const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '_service']);

/** A refusal for going too fast: code RATE_LIMITED, the seconds to wait, HTTP 429 with `Retry-After` when `http` (Apollo) headers are given. */
export class RateLimitError extends GraphQLError {
  constructor(
    message: string,
    readonly retryAfter: number,
    http?: { headers: Map<string, string> },
  ) {
    // Apollo reads `http.headers` as a map of headers to set.
    const status = http ? { http: { status: 429, headers: http.headers } as unknown as GraphQLErrorExtensions['http'] } : {};
    super(message, { extensions: { code: RATE_LIMITED, details: { retryAfter }, ...status } });
  }
}

/** Who sends a request: its principal (when known) and client address. */
export interface Caller {
  actor?: Principal;
  address: string;
}

/** The rate buckets of one kind (`queries`, `mutations`, `sockets`) with `perMinute` tokens a minute: in memory, or shared by the replicas (shared-buckets.ts). */
export type BucketsFactory = (kind: 'queries' | 'mutations' | 'groupQueries' | 'groupMutations' | 'sockets', perMinute: number) => RateBuckets;

/**
 * The gateway's abuse limits: operation shapes (depth, aliases, tokens, directives, cost, batch
 * items), rates per token (anonymous callers: per address) and per group (all its tokens together)
 * of queries and mutations, and the
 * graphql-ws socket caps (new sockets per minute and open sockets per address, operations per
 * socket; the sockets without a token: socket-admission.ts). The rates are counted in memory, or
 * by every replica together when `buckets` shares them (Redis); the caps of open sockets are each
 * replica's own.
 */
export class RequestLimits {
  readonly operations: OperationLimits;
  private readonly queries: RateBuckets;
  private readonly mutations: RateBuckets;
  private readonly groupQueries: RateBuckets;
  private readonly groupMutations: RateBuckets;
  private readonly newSockets: RateBuckets;
  private readonly socketsByAddress = new Map<string, number>();
  private readonly documents = new Map<string, DocumentNode>();
  private readonly validated = new WeakMap<DocumentNode, readonly GraphQLError[]>();

  constructor(
    private readonly config: Pick<
      GatewayConfig,
      | 'introspection'
      | 'maxQueryDepth'
      | 'maxQueryAliases'
      | 'maxQueryTokens'
      | 'maxQueryDirectives'
      | 'maxQueryCost'
      | 'maxBatchItems'
      | 'rateQueriesPerMinute'
      | 'rateMutationsPerMinute'
      | 'rateGroupQueriesPerMinute'
      | 'rateGroupMutationsPerMinute'
      | 'rateSocketsPerMinute'
      | 'maxSocketsPerAddress'
      | 'maxSubscriptionsPerSocket'
    >,
    now: () => number = Date.now,
    buckets: BucketsFactory = (_kind, perMinute) => new TokenBuckets(perMinute, now),
  ) {
    this.operations = {
      maxDepth: config.maxQueryDepth,
      maxAliases: config.maxQueryAliases,
      maxTokens: config.maxQueryTokens,
      maxDirectives: config.maxQueryDirectives,
      maxCost: config.maxQueryCost,
      maxBatchItems: config.maxBatchItems,
    };
    this.queries = buckets('queries', config.rateQueriesPerMinute);
    this.mutations = buckets('mutations', config.rateMutationsPerMinute);
    this.groupQueries = buckets('groupQueries', config.rateGroupQueriesPerMinute);
    this.groupMutations = buckets('groupMutations', config.rateGroupMutationsPerMinute);
    this.newSockets = buckets('sockets', config.rateSocketsPerMinute);
  }

  /**
   * Parses and checks an operation's shape (see `checkOperationLimits`): throws
   * `OperationLimitError`. The documents of the last sources within the limits are kept, so a
   * source sent again is neither parsed nor walked again (its cost, which depends on the
   * variables, is).
   */
  checkOperation(schema: GraphQLSchema, request: OperationRequest): DocumentNode | undefined {
    const known = this.documents.get(request.source);
    const document = checkOperationLimits(schema, request, this.operations, known);
    if (document && !known) {
      if (this.documents.size >= KEPT_DOCUMENTS) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(request.source, document);
    }
    return document;
  }

  /** The validation errors of a document checked by `checkOperation` (kept with it: the documents sent again are validated once). */
  validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] {
    let errors = this.validated.get(document);
    if (!errors) this.validated.set(document, (errors = validate(schema, document)));
    return errors;
  }

  /**
   * Takes one operation of `kind` from the caller's bucket (its token's, or its address's when
   * anonymous; subscriptions count as queries), then from its group's (all the group's tokens
   * together: minting tokens does not multiply a group's rate). Throws `RateLimitError` when one is
   * empty; `http` makes the error carry a 429 and the `Retry-After` header.
   */
  async checkRate(kind: OperationTypeNode, caller: Caller, http?: () => Map<string, string>): Promise<void> {
    const mutation = kind === OperationTypeNode.MUTATION;
    const noun = mutation ? 'mutations' : 'queries';
    const refuse = (wait: number, message: string) => {
      const headers = http?.();
      headers?.set('retry-after', String(wait));
      return new RateLimitError(`Too many ${noun}: ${message}; retry in ${wait} s`, wait, headers ? { headers } : undefined);
    };
    const buckets = mutation ? this.mutations : this.queries;
    const actor = caller.actor?.kind === 'token' ? caller.actor : undefined;
    const key = actor ? `token:${actor.tokenId}` : `address:${caller.address}`;
    const wait = await buckets.take(key);
    if (wait) throw refuse(wait, `at most ${buckets.perMinute} a minute ${actor ? 'per token' : 'per address without a token'} (${mutation ? 'RSP_RATE_MUTATIONS_PER_MINUTE' : 'RSP_RATE_QUERIES_PER_MINUTE'})`);
    if (!actor?.groupId || actor.siteAdmin) return;
    const group = mutation ? this.groupMutations : this.groupQueries;
    const groupWait = await group.take(`group:${actor.groupId}`);
    if (groupWait) throw refuse(groupWait, `at most ${group.perMinute} a minute for all the tokens of a group together (${mutation ? 'RSP_RATE_GROUP_MUTATIONS_PER_MINUTE' : 'RSP_RATE_GROUP_QUERIES_PER_MINUTE'})`);
  }

  /** Refuses (FORBIDDEN) an anonymous operation that introspects when anonymous introspection is off. */
  checkIntrospection(document: DocumentNode, actor: Principal | undefined): void {
    if (this.config.introspection || (actor && actor.kind !== 'anonymous')) return;
    let introspects = false;
    visit(document, {
      Field: (node) => {
        if (INTROSPECTION_FIELDS.has(node.name.value)) introspects = true;
      },
    });
    if (introspects) throw new GraphQLError('Introspection needs a token on this gateway (RSP_INTROSPECTION is off)', { extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
  }

  /**
   * Admits a new graphql-ws socket from `address` (before its handshake): a refusal when the
   * address holds too many open or opened too many a minute; else the function to call once it
   * closes.
   */
  async admitSocket(address: string): Promise<SocketRefusal | (() => void)> {
    const open = this.socketsByAddress.get(address) ?? 0;
    if (this.config.maxSocketsPerAddress > 0 && open >= this.config.maxSocketsPerAddress) {
      return { message: `Too many open connections from ${address}: at most ${this.config.maxSocketsPerAddress} (RSP_MAX_SOCKETS_PER_ADDRESS)`, status: 429, retryAfter: CAP_RETRY_SECONDS, limit: 'RSP_MAX_SOCKETS_PER_ADDRESS' };
    }
    // Counted as open while the shared bucket answers: a burst from one address cannot all pass the check above.
    this.socketsByAddress.set(address, open + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.socketsByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.socketsByAddress.set(address, left);
      else this.socketsByAddress.delete(address);
    };
    const wait = await this.newSockets.take(address);
    if (!wait) return release;
    release();
    return { message: `Too many new connections from ${address}: at most ${this.config.rateSocketsPerMinute} a minute (RSP_RATE_SOCKETS_PER_MINUTE); retry in ${wait} s`, status: 429, retryAfter: wait, limit: 'RSP_RATE_SOCKETS_PER_MINUTE' };
  }

  /** Refuses (RATE_LIMITED) one more operation on a socket already running `running` of them. */
  checkSocketOperations(running: number): void {
    const max = this.config.maxSubscriptionsPerSocket;
    if (max > 0 && running > max) throw new RateLimitError(`Too many operations on this connection: at most ${max} at once (RSP_MAX_SUBSCRIPTIONS_PER_SOCKET)`, CAP_RETRY_SECONDS);
  }
}
