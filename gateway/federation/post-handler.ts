import type { IncomingMessage, ServerResponse } from 'node:http';
import { DocumentNode, getOperationAST, GraphQLError, GraphQLSchema, validate } from 'graphql';
import { maskError, processRegularResult } from 'graphql-yoga';
import type { FederationContext } from './context';
import type { ByIdForwarding } from './forwarding';
import { checkOperationLimits, OperationLimits } from '../limits/operation-limits';
import { variableShapeRefusal } from '../server/variable-shape';

/** Options of `federationPostHandler`. */
export interface FederationPostOptions {
  schema: GraphQLSchema;
  forwarding: ByIdForwarding;
  /** The operation limits: a request over them is Yoga's to refuse (its limits plugin). */
  limits: OperationLimits;
  /** The context of a request from its headers; throws (401, 400…) for Yoga to answer. */
  context: (header: (name: string) => string | undefined) => FederationContext;
  /** GraphQL Yoga's Node handler: every request the fast path does not take. */
  yoga: (req: IncomingMessage, res: ServerResponse) => unknown;
  /** GraphQL Yoga's Fetch handler: a request whose body was read, answered by Yoga. */
  yogaFetch: (url: string, init: { method: string; headers: Record<string, string>; body: Uint8Array }) => Promise<Response> | Response;
  /** Where an error masked from the caller is logged. */
  logError: (error: unknown) => void;
}

/** The parsed documents of query texts (null: Yoga answers it, a syntax or validation error), the most recent kept. */
const MAX_DOCUMENTS = 1_000;
/** Longer query texts are parsed each time, not kept. */
const MAX_KEPT_QUERY_CHARS = 64 * 1024;
/** Headers of the connection, not of the request handed to Yoga. */
const HOP_HEADERS = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);
/** What Yoga's result processors answer an Accept header with, kept per header text (at most this many). */
const MAX_ACCEPTS = 100;

/**
 * `POST /graphql` with a JSON body, answered without GraphQL Yoga's Fetch API layer (a Request
 * and a Response object per request, its plugin chain around parsing and execution): the body read
 * once, its document parsed and validated once per query text, the federation's context, the
 * by-id fast path (ByIdForwarding) or the stitched schema executed, and the result as Yoga sends
 * it (its error masking and HTTP status, processRegularResult). Yoga answers everything else as
 * before — another method, path, content type or encoding, an `Origin` (CORS), an `Accept` Yoga
 * answers with a stream, a caller it refuses (401, 400 for an unknown `x-rsp-site`), a body that
 * is not a request (bad JSON, unexpected parameters, syntax or validation errors, an operation
 * over the limits), subscriptions.
 */
export function federationPostHandler(options: FederationPostOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const documents = new Map<string, DocumentNode | null>();
  const sourceLimits: OperationLimits = { ...options.limits, maxCost: 0, maxBatchItems: 0 };
  const costLimited = options.limits.maxCost > 0 || options.limits.maxBatchItems > 0;
  const accepts = new Map<string, string | undefined>();

  /** The document of `query`, or null when Yoga answers it. */
  const documentOf = (query: string): DocumentNode | null => {
    const kept = documents.get(query);
    if (kept !== undefined) {
      documents.delete(query);
      documents.set(query, kept);
      return kept;
    }
    let document: DocumentNode | null;
    try {
      // Within the limits that depend on the text alone (tokens, parsed no further; aliases, directives, depth).
      document = checkOperationLimits(options.schema, { source: query }, sourceLimits) ?? null;
      if (document && validate(options.schema, document).length) document = null;
    } catch {
      document = null;
    }
    if (query.length <= MAX_KEPT_QUERY_CHARS) {
      documents.set(query, document);
      if (documents.size > MAX_DOCUMENTS) documents.delete(documents.keys().next().value!);
    }
    return document;
  };

  /** The media type of the answer, as Yoga picks it; undefined when Yoga would answer another way (a stream, 406). */
  const mediaTypeOf = (accept: string | undefined): string | undefined => {
    const key = accept ?? '';
    if (accepts.has(key)) return accepts.get(key);
    const chosen = regularMediaType(accept);
    if (accepts.size < MAX_ACCEPTS) accepts.set(key, chosen);
    return chosen;
  };

  /** The request (its body read) answered by Yoga. */
  const viaYoga = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_HEADERS.has(name)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const response = await options.yogaFetch(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/graphql'}`, { method: 'POST', headers, body: new Uint8Array(body) });
    const text = Buffer.from(await response.arrayBuffer());
    const out: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      out[name] = value;
    });
    out['content-length'] = String(text.length);
    res.writeHead(response.status, out);
    res.end(text);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, body: Buffer, ctx: FederationContext, mediaType: string): Promise<void> => {
    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return viaYoga(req, res, body);
    }
    if (!isPlainRequest(params)) return viaYoga(req, res, body);
    const document = documentOf(params.query);
    const operationName = params.operationName ?? undefined;
    const operation = document ? getOperationAST(document, operationName) : null;
    if (!document || !operation || operation.operation === 'subscription') return viaYoga(req, res, body);
    const variables = params.variables ?? undefined;
    // Variables of the wrong shape: refused in one pass, before graphql-js (and then Yoga) would quote them into an error per field.
    const shape = variableShapeRefusal(options.schema, document, operationName, variables);
    if (shape) return send(res, processRegularResult({ errors: [shape] }, CAPTURE as never, mediaType) as unknown as Captured);
    // Its cost and batch items, which depend on the variables too; a query the fast path may forward as it is, its site prices as it prices its own.
    if (costLimited && !options.forwarding.forwards(document, operationName)) {
      try {
        checkOperationLimits(options.schema, { source: params.query, variables, operationName }, options.limits, document);
      } catch {
        return viaYoga(req, res, body);
      }
    }
    let result = await options.forwarding.execute({ document, operationName, variableValues: variables, contextValue: ctx });
    // No data: the request failed before any field ran (its variables): Yoga's executor answers it with its own status (400).
    if (!('data' in result)) return viaYoga(req, res, body);
    // As Yoga's plugins do: the errors of sites that did not answer added, unexpected errors masked.
    if (ctx.siteErrors.length) result = { ...result, errors: [...(result.errors ?? []), ...ctx.siteErrors] };
    if (result.errors?.length) result = { ...result, errors: result.errors.map((e) => masked(e, options.logError)) };
    send(res, processRegularResult(result, CAPTURE as never, mediaType) as unknown as Captured);
  };

  return (req, res) => {
    const type = req.headers['content-type'];
    const encoding = req.headers['content-encoding'];
    const mediaType = req.method === 'POST' && req.url === '/graphql' && type !== undefined && /^application\/json(;|,|$)/.test(type) && (!encoding || encoding === 'identity') && req.headers.origin === undefined ? mediaTypeOf(req.headers.accept) : undefined;
    let ctx: FederationContext | undefined;
    if (mediaType) {
      try {
        ctx = options.context((name) => {
          const value = req.headers[name];
          return Array.isArray(value) ? value.join(', ') : value;
        });
      } catch {
        ctx = undefined;
      }
    }
    if (!mediaType || !ctx) {
      void options.yoga(req, res);
      return;
    }
    const context = ctx;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => undefined);
    req.on('end', () => {
      answer(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), context, mediaType).catch((error: unknown) => {
        options.logError(error);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const text = JSON.stringify({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
  };
}

/** A request body as the fast path takes it: a query string, variables and extensions objects (or null), an operation name string (or null), nothing else. */
function isPlainRequest(body: unknown): body is { query: string; variables?: Record<string, unknown> | null; operationName?: string | null } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const { query, variables, operationName, extensions, ...rest } = body as Record<string, unknown>;
  const objectOrNull = (v: unknown) => v == null || (typeof v === 'object' && !Array.isArray(v));
  return typeof query === 'string' && objectOrNull(variables) && objectOrNull(extensions) && (operationName == null || typeof operationName === 'string') && Object.values(rest).every((v) => v == null);
}

/** An error as Yoga's masking gives it to the caller: a GraphQL error as it is, anything unexpected as "Unexpected error." (logged). */
function masked(error: GraphQLError, log: (error: unknown) => void): GraphQLError {
  const result = maskError(error, 'Unexpected error.') as GraphQLError;
  if (result !== error) log(error);
  return result;
}

/** Writes a captured response. */
function send(res: ServerResponse, response: Captured): void {
  res.writeHead(response.init.status ?? 200, { ...response.init.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(response.body);
}

/** What processRegularResult makes, captured instead of a Fetch API Response. */
interface Captured {
  body: string;
  init: { status?: number; headers: Record<string, string> };
}

/** The Fetch API processRegularResult is given: its Response keeps the body and init. */
const CAPTURE = {
  Response: class {
    constructor(
      readonly body: string,
      readonly init: { status?: number; headers: Record<string, string> },
    ) {}
  },
};

/** Yoga's result processors, in its order: the last match of the Accept header's types wins (useResultProcessors). */
const PROCESSORS = [
  { regular: false, mediaTypes: ['text/event-stream'] },
  { regular: false, mediaTypes: ['multipart/mixed'] },
  { regular: true, mediaTypes: ['application/graphql-response+json', 'application/json'] },
];

/** The media type Yoga answers a query with for this Accept header, when it is a plain JSON answer. */
function regularMediaType(accept: string | undefined): string | undefined {
  const asked: string[] = [];
  for (const item of (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',')) {
    const [mediaType, ...params] = item.split(';');
    if (mediaType === undefined || (params.find((p) => p.includes('charset=')) ?? 'charset=utf-8') !== 'charset=utf-8') continue;
    asked.push(mediaType);
  }
  asked.reverse();
  let chosen: { regular: boolean; mediaType: string } | undefined;
  for (const processor of PROCESSORS) {
    for (const mediaType of asked) {
      for (const offered of processor.mediaTypes) if (matches(offered, mediaType)) chosen = { regular: processor.regular, mediaType: offered };
    }
  }
  return chosen?.regular ? chosen.mediaType : undefined;
}

/** Yoga's isMatchingMediaType: a processor's type matches a type asked for, `*` on either side of the asked type's slash matching any. */
function matches(processorType: string, askedType: string): boolean {
  const [processorPre, processorSuf] = processorType.split('/');
  const [pre, suf] = askedType.split('/');
  return (pre === '*' || pre === processorPre) && (suf === '*' || suf === processorSuf);
}
