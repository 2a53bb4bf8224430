import type { ExecutionRequest, ExecutionResult, Executor } from '@graphql-tools/utils';
import { createGraphQLError } from '@graphql-tools/utils';
import { DocumentNode, getOperationAST, GraphQLError, print } from 'graphql';
import { SiteConnections, type SiteExchange } from './site-connections';

/** A site's HTTP executor: its executor, and a way to close its kept-alive connections. */
export interface SiteHttpExecutor {
  executor: Executor;
  close(): void;
}

/**
 * Most bytes of a site's answer the federation reads: a site's answers are bounded by its own
 * query cost limits, far below this. A longer one (a compromised site, or anything else answering
 * at its URL) is cut off as a failure of the site, instead of being held whole in memory.
 */
export const MAX_SITE_ANSWER_BYTES = 16 * 1024 * 1024;

/** Most characters of a site's answer quoted in an error about it (a hint of what answered, not a copy of it). */
export const QUOTED_ANSWER_CHARS = 200;

/**
 * Characters of a site's answer escaped when quoted: control characters (C0, DEL, C1), line and
 * paragraph separators, and the bidirectional controls, so that a hostile site's text cannot
 * start a line of its own in a log or an error message, nor reorder what it shows; and the quote
 * and backslash, so that the quoted text cannot seem to end before it does.
 */
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"\\]/g;

/** The short escapes; the other unsafe characters are written `\uXXXX`. */
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };

/**
 * The start of a site's answer as quoted in an error: at most QUOTED_ANSWER_CHARS characters
 * (whole code points), its unsafe characters escaped (`\n`, `\u001b`, `\"`), and how long it was
 * when cut.
 */
export function quotedAnswer(text: string): string {
  const points = Array.from(text.slice(0, QUOTED_ANSWER_CHARS * 2)).slice(0, QUOTED_ANSWER_CHARS);
  const start = points.join('');
  const escaped = start.replace(UNSAFE_CHARS, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return start.length < text.length ? `${escaped}… (${text.length} characters)` : escaped;
}

/** The printed text of each document sent (a document delegated again is printed once). */
const printed = new WeakMap<DocumentNode, string>();

/** The text of `document` as sent to a site. */
function printedDocument(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

/**
 * Queries and mutations to one site over HTTP/1.1, on connections kept alive between requests
 * (SiteConnections, one pool per site): the request's JSON body, the answer's JSON parsed once.
 * Failures keep the codes of GraphQL Tools' HTTP executor, which this replaces for speed:
 * SUBREQUEST_HTTP_ERROR (refused, reset), TIMEOUT_ERROR (no answer within `timeoutMs`),
 * RESPONSE_VALIDATION_FAILED (not a GraphQL answer); a site's own errors come back as it gave them.
 * An answer over `maxAnswerBytes` (default MAX_SITE_ANSWER_BYTES; by its Content-Length or as it
 * comes) is SUBREQUEST_HTTP_ERROR with `reason: 'ANSWER_TOO_LARGE'`, its connection closed.
 * Redirects are not followed (an answer of 3xx is not a GraphQL answer). A query whose kept-alive
 * connection the site had just closed is sent once more on a fresh one; a mutation is not (the
 * site may have done it).
 */
export function siteHttpExecutor(options: { endpoint: string; timeoutMs: number; headers: (request: ExecutionRequest) => Record<string, string>; maxAnswerBytes?: number }): SiteHttpExecutor {
  const maxAnswerBytes = options.maxAnswerBytes ?? MAX_SITE_ANSWER_BYTES;
  const connections = new SiteConnections(new URL(options.endpoint), maxAnswerBytes);
  const executor = ((request: ExecutionRequest): Promise<ExecutionResult> => {
    const body = JSON.stringify({
      query: printedDocument(request.document),
      variables: request.variables && Object.keys(request.variables).length ? request.variables : undefined,
      operationName: request.operationName || undefined,
      extensions: request.extensions && Object.keys(request.extensions).length ? request.extensions : undefined,
    });
    const signal = (request as { signal?: AbortSignal }).signal ?? (request.info as { signal?: AbortSignal } | undefined)?.signal;
    return new Promise<ExecutionResult>((resolve) => {
      let done = false;
      const finish = (result: ExecutionResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const fail = (message: string, code: string, originalError?: Error, status?: number, reason?: string) =>
        finish({ errors: [createGraphQLError(message, { extensions: { code, request: { method: 'POST' }, ...(status ? { response: { status } } : {}), ...(reason ? { reason } : {}) }, ...(originalError ? { originalError } : {}) })] });
      const timer = setTimeout(() => {
        exchange?.abort();
        const e = new Error(`The operation was aborted due to timeout`);
        e.name = 'TimeoutError';
        fail(e.message, 'TIMEOUT_ERROR', e, 504);
      }, options.timeoutMs);
      const onAbort = () => {
        exchange?.abort();
        const reason = signal?.reason as Error | undefined;
        if (reason instanceof GraphQLError) finish({ errors: [reason] });
        else fail(reason?.message ?? 'The operation was aborted', 'SUBREQUEST_HTTP_ERROR', reason);
      };
      let exchange: SiteExchange | undefined;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      exchange = connections.post(body, options.headers(request), (outcome) => {
        if (outcome.kind === 'error') return fail(unreachable(outcome.error), 'SUBREQUEST_HTTP_ERROR', outcome.error);
        if (outcome.kind === 'too-large') return fail(`The site's answer is over ${maxAnswerBytes} bytes (${outcome.bytes} or more): not read`, 'SUBREQUEST_HTTP_ERROR', undefined, outcome.status, 'ANSWER_TOO_LARGE');
        let result: ExecutionResult;
        try {
          result = answer(outcome.body.toString('utf8'), outcome.status);
        } catch (e) {
          // Thrown out of a socket's event handler, it would end the process.
          result = { errors: [createGraphQLError(`The site's answer could not be read: ${(e as Error).message}`, { extensions: { code: 'RESPONSE_VALIDATION_FAILED', response: { status: outcome.status } } })] };
        }
        finish(result);
      }, { replayable: isQuery(request) });
    });
  }) as Executor;
  return { executor, close: () => connections.close() };
}

/** Whether the request is a query (changes nothing at the site: sent again when its kept-alive connection was closed under it), not a mutation. */
function isQuery(request: ExecutionRequest): boolean {
  return (request.operationType ?? getOperationAST(request.document, request.operationName)?.operation) === 'query';
}

/**
 * Why a site could not be reached, as the federation's callers read it: the system's code
 * (ECONNREFUSED, ENOTFOUND…), never its message, which names the address or host name the site
 * is reached at (the federation's own network, not its callers' to know).
 */
function unreachable(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  return `The site could not be reached (${typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'connection failed'})`;
}

/** A site's HTTP answer as an execution result: its data and errors, or why it is not one. */
function answer(text: string, status: number): ExecutionResult {
  const quoted = quotedAnswer(text);
  const invalid = (message: string): ExecutionResult => ({ errors: [createGraphQLError(message, { extensions: { code: 'RESPONSE_VALIDATION_FAILED', response: { status, body: quoted } } })] });
  if (!text) return invalid('No response returned');
  let parsed: { data?: Record<string, unknown> | null; errors?: Array<{ message: string } & Record<string, unknown>>; extensions?: Record<string, unknown> };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return invalid(`Unexpected response: "${quoted}"`);
  }
  if (parsed === null || typeof parsed !== 'object' || (parsed.data == null && !parsed.errors?.length)) return invalid(`Unexpected empty "data" and "errors" fields in result: ${quoted}`);
  if (!Array.isArray(parsed.errors)) return parsed as ExecutionResult;
  return { ...parsed, errors: parsed.errors.map(siteGraphQLError) } as ExecutionResult;
}

/**
 * One of a site's errors as a GraphQLError: its message, path and extensions, nothing else. The
 * rest of what an answer may carry is the site's to say, and some of it graphql-js would act on:
 * `source` and `positions` it locates (throwing on a source that is not one), an `originalError`
 * GraphQL Tools makes into an error again (as deep as the site nests it).
 */
function siteGraphQLError(error: unknown): GraphQLError {
  const e = (error !== null && typeof error === 'object' ? error : { message: error }) as { message?: unknown; path?: unknown; extensions?: unknown };
  const path = Array.isArray(e.path) && e.path.every((p) => typeof p === 'string' || typeof p === 'number') ? (e.path as Array<string | number>) : undefined;
  const extensions = e.extensions !== null && typeof e.extensions === 'object' && !Array.isArray(e.extensions) ? (e.extensions as Record<string, unknown>) : undefined;
  return createGraphQLError(typeof e.message === 'string' ? e.message : JSON.stringify(e.message ?? null), { ...(path ? { path } : {}), ...(extensions ? { extensions } : {}) });
}
