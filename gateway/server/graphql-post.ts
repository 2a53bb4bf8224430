import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer, BaseContext, HeaderMap } from '@apollo/server';
import type { Logger } from '../logging/logger';
import { outageOf } from '../errors';
import { httpErrors, MAX_GRAPHQL_BODY_BYTES, requestIdOf } from './http-app';
import { outageAnswer } from './outage-response';

/** Options of `graphqlPostHandler`. */
export interface GraphQLPostOptions<TContext extends BaseContext> {
  /** The Apollo server, read when a request arrives (it is started after the HTTP server is made). */
  apollo: () => ApolloServer<TContext>;
  /** The context of one request, from its id and the request (its Authorization header, its client address). */
  context: (requestId: string, req: IncomingMessage) => Promise<TContext>;
  logger: Logger;
  maxBodyBytes?: number;
  /** Refuses a request before it reaches Apollo (the operation limits): the answer to send, or undefined to go on. */
  refuse?: (body: unknown) => { status: number; body: unknown } | undefined;
}

/**
 * True for the requests the fast path takes: `POST /graphql` with a plain (not compressed) JSON
 * body. Everything else (GET, other types, compressed bodies) goes through the express app.
 */
export function isJsonGraphQLPost(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  const path = url.indexOf('?') >= 0 ? url.slice(0, url.indexOf('?')) : url;
  if (path !== '/graphql' && path !== '/graphql/') return false;
  const type = req.headers['content-type'];
  if (!type || !/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) return false;
  const encoding = req.headers['content-encoding'];
  return !encoding || encoding === 'identity';
}

/**
 * `POST /graphql` with a JSON body straight to Apollo, without the express stack (router, body
 * parser, content negotiation, ETag): the hot path of every query and mutation, where that stack
 * cost about a fifth of a small request's CPU. Answers exactly as the express route does — the
 * request id echoed in `x-request-id`, 400 `BAD_REQUEST` for a body that is not JSON, 413 for one
 * over the limit, the `refuse` answer (operation limits), 503 `UNAVAILABLE` with `Retry-After`
 * for an outage, Apollo's own answer otherwise.
 */
export function graphqlPostHandler<TContext extends BaseContext>(options: GraphQLPostOptions<TContext>): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = options.maxBodyBytes ?? MAX_GRAPHQL_BODY_BYTES;
  return (req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      tooLarge(req, res, 0);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > limit) {
        aborted = true;
        tooLarge(req, res, size);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (aborted) return;
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (!isUtf8(bytes)) {
        sendJson(res, httpErrors.notUtf8());
        return;
      }
      const text = bytes.toString('utf8');
      let body: unknown;
      try {
        body = text.length ? JSON.parse(text) : {};
      } catch (e) {
        sendJson(res, httpErrors.invalidJson((e as Error).message));
        return;
      }
      const refusal = options.refuse?.(body);
      if (refusal) {
        sendJson(res, refusal);
        return;
      }
      execute(options, req, res, requestId, body).catch((err: unknown) => {
        const outage = outageOf(err);
        if (outage && !res.headersSent) {
          const answer = outageAnswer(outage);
          for (const [key, value] of Object.entries(answer.headers)) res.setHeader(key, value);
          sendJson(res, answer);
          return;
        }
        options.logger.error({ err, requestId, path: req.url }, 'unhandled http error');
        if (!res.headersSent) sendJson(res, httpErrors.internal(requestId));
        else res.destroy();
      });
    });
  };
}

async function execute<TContext extends BaseContext>(options: GraphQLPostOptions<TContext>, req: IncomingMessage, res: ServerResponse, requestId: string, body: unknown): Promise<void> {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = req.url ?? '';
  const query = url.indexOf('?');
  const response = await options.apollo().executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: 'POST', headers, search: query >= 0 ? url.slice(query) : '', body },
    context: () => options.context(requestId, req),
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.setHeader('content-length', Buffer.byteLength(response.body.string));
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/**
 * Most bytes of a body over the limit read and dropped before its 413: a client that writes its
 * whole body before reading (fetch does) gets the answer instead of `EPIPE` on a closed socket.
 */
export const MAX_DRAINED_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Answers 413 to a body over the limit once the client has sent it all (`received` bytes read so
 * far), reading and dropping the rest (a client still writing it would otherwise see its socket
 * cut); a body declared or found larger than `MAX_DRAINED_BODY_BYTES` is answered at once and its
 * connection closed. `Connection: close` either way.
 */
export function tooLarge(req: IncomingMessage, res: ServerResponse, received: number): void {
  let answered = false;
  const answer = () => {
    if (answered || res.headersSent) return;
    answered = true;
    sendJson(res, httpErrors.tooLarge(), true);
  };
  if (Number(req.headers['content-length']) > MAX_DRAINED_BODY_BYTES) {
    answer();
    req.resume();
    return;
  }
  let drained = received;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAINED_BODY_BYTES) answer();
  });
  req.once('end', answer);
  req.resume();
}

function sendJson(res: ServerResponse, { status, body }: { status: number; body: unknown }, close = false): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  if (close) res.setHeader('connection', 'close');
  res.end(text);
}
