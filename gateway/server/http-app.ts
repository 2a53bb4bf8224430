import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { NextFunction, Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { databaseReachable } from '../persistence/data-source';
import type { Logger } from '../logging/logger';
import { outageOf } from '../errors';
import { graphiqlPage } from './graphiql';
import { outageAnswer } from './outage-response';

/** A readiness check: a name and a function answering whether that part is ready. */
export type ReadinessCheck = { name: string; check: () => Promise<boolean | { ok: boolean; detail?: unknown }> };

/** Options of the HTTP app around the GraphQL handler. */
export interface HttpAppOptions {
  logger: Logger;
  dataSource: DataSource;
  graphiql: boolean;
  readinessChecks?: ReadinessCheck[];
}

/** Largest JSON body of a GraphQL POST, on the express route and on the fast path alike. */
export const MAX_GRAPHQL_BODY_BYTES = 2 * 1024 * 1024;

/** The GraphQL-shaped answers to a body that cannot be read, and to an internal error: status and body. */
export const httpErrors = {
  invalidJson: (detail: string) => ({ status: 400, body: { errors: [{ message: `The request body is not valid JSON: ${detail}`, extensions: { code: 'BAD_REQUEST' } }] } }),
  notUtf8: () => ({ status: 400, body: { errors: [{ message: 'The request body is not valid UTF-8', extensions: { code: 'BAD_REQUEST' } }] } }),
  tooLarge: () => ({ status: 413, body: { errors: [{ message: 'The request body is too large', extensions: { code: 'BAD_REQUEST' } }] } }),
  internal: (requestId: string | undefined, status = 500) => ({ status, body: { errors: [{ message: `Internal error (request ${requestId})`, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] } }),
};

/** The body-parser error type of a JSON body that is not UTF-8. */
const NOT_UTF8 = 'entity.not.utf8';

/** Headers a client may send to name its request; echoed back as `x-request-id`. */
const REQUEST_ID_HEADER = 'x-request-id';

/** Returns the request id given by the client (when sane) or a new one. */
export function requestIdOf(req: Pick<IncomingMessage, 'headers'>): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
}

/**
 * Headers of the GraphQL IDE page: no other site may frame it (a framed IDE, where a token is typed
 * into the headers pane, is a clickjacking target), nor have it sniffed or learn its address. Its
 * scripts are inline (it works offline), so its policy restricts framing, base and forms only.
 */
export const GRAPHIQL_HEADERS = {
  'Content-Security-Policy': "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * The answer to a path or method nothing serves (a `TRACE`, a `POST /metrics`, an unknown JSON
 * path): a GraphQL-shaped 404 with code NOT_FOUND, instead of express's HTML page echoing the path.
 */
export function notFoundHandler(_req: Request, res: Response): void {
  res.status(404).set('X-Content-Type-Options', 'nosniff').json({ errors: [{ message: 'Nothing is served at this path with this method', extensions: { code: 'NOT_FOUND' } }] });
}

/** The body of `/healthz`: the process answers. */
const LIVE = { status: 'ok' };

/**
 * The answer of `/readyz`: 200 when the database answers and every readiness check passes, else
 * 503, with each check's result. A check that throws is `{ ok: false, code }` (UNAVAILABLE for an
 * outage, else INTERNAL_SERVER_ERROR): `/readyz` answers anyone, so the error's message (a
 * database's address, a path) goes to the log only.
 */
export async function readiness(options: Pick<HttpAppOptions, 'dataSource' | 'readinessChecks'> & { logger?: Logger }): Promise<{ status: 200 | 503; body: { status: string; checks: Record<string, unknown> } }> {
  const checks: Record<string, unknown> = { database: await databaseReachable(options.dataSource) };
  let ready = checks.database === true;
  for (const { name, check } of options.readinessChecks ?? []) {
    try {
      const r = await check();
      checks[name] = r;
      ready &&= typeof r === 'boolean' ? r : r.ok;
    } catch (e) {
      options.logger?.warn({ err: e, check: name }, 'readiness check failed');
      checks[name] = { ok: false, code: outageOf(e) ? 'UNAVAILABLE' : 'INTERNAL_SERVER_ERROR' };
      ready = false;
    }
  }
  return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready', checks } };
}

/**
 * The handler of the health port (`RSP_HEALTH_PORT`): `GET` (or `HEAD`) `/healthz` and `/readyz`
 * as on the gateway's port, anything else 404. A port of its own, so a load balancer's checks
 * never wait behind the clients of the gateway's port in its accept queues.
 */
export function healthHandler(options: Pick<HttpAppOptions, 'dataSource' | 'readinessChecks' | 'logger'>): (req: IncomingMessage, res: ServerResponse) => void {
  const send = (res: ServerResponse, status: number, body: unknown, head: boolean) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-request-id': randomUUID(), ...(status === 405 ? { allow: 'GET, HEAD' } : {}) });
    res.end(head ? undefined : text);
  };
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return send(res, 405, { errors: [{ message: 'Only GET and HEAD are answered on the health port', extensions: { code: 'BAD_REQUEST' } }] }, false);
    if (path === '/healthz') return send(res, 200, LIVE, head);
    if (path !== '/readyz') return send(res, 404, { errors: [{ message: 'The health port answers /healthz and /readyz only', extensions: { code: 'NOT_FOUND' } }] }, head);
    readiness(options).then(
      ({ status, body }) => send(res, status, body, head),
      (e: unknown) => {
        options.logger.error({ err: e }, 'readiness check failed');
        send(res, 503, { status: 'not ready' }, head);
      },
    );
  };
}

/**
 * The express app of a gateway, without the GraphQL handler (mounted by the caller):
 * request ids, JSON bodies, `/healthz`, `/readyz` and the GraphQL IDE on `GET /graphql`
 * (the dashboard, at `/`, is mounted by the caller after the API: see dashboard.ts).
 */
export function createHttpApp(options: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  app.use((req, res, next) => {
    const id = requestIdOf(req);
    res.locals.requestId = id;
    res.setHeader(REQUEST_ID_HEADER, id);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json(LIVE);
  });

  app.get('/readyz', async (_req, res) => {
    const { status, body } = await readiness(options);
    res.status(status).json(body);
  });

  app.get('/graphql', (req, res, next) => {
    if (options.graphiql && req.accepts(['application/json', 'text/html']) === 'text/html' && !req.query.query) {
      res.set(GRAPHIQL_HEADERS).type('html').send(graphiqlPage());
      return;
    }
    next();
  });

  app.use(
    '/graphql',
    express.json({
      limit: MAX_GRAPHQL_BODY_BYTES,
      verify: (req, _res, bytes) => {
        const charset = /;\s*charset\s*=\s*"?([\w-]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase() ?? 'utf-8';
        if ((charset === 'utf-8' || charset === 'utf8') && !isUtf8(bytes)) throw Object.assign(new Error('The request body is not valid UTF-8'), { type: NOT_UTF8 });
      },
    }),
  );
  return app;
}

/** Last handler: turns body-parser failures into GraphQL-shaped 400s, outages into 503s, and hides internal errors. */
export function httpErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = err as { type?: string; status?: number; message?: string };
    const send = ({ status, body }: { status: number; body: unknown }) => void res.status(status).json(body);
    if (e.type === 'entity.parse.failed') return send(httpErrors.invalidJson(e.message ?? ''));
    if (e.type === 'entity.too.large') return send(httpErrors.tooLarge());
    if (e.type === NOT_UTF8) return send(httpErrors.notUtf8());
    const outage = outageOf(err);
    if (outage) {
      const { status, headers, body } = outageAnswer(outage);
      res.set(headers);
      return send({ status, body });
    }
    const requestId = res.locals.requestId as string | undefined;
    logger.error({ err, requestId, path: req.path }, 'unhandled http error');
    send(httpErrors.internal(requestId, e.status && e.status >= 400 && e.status < 500 ? e.status : 500));
  };
}
