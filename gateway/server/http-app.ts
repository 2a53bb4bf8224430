import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
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
  tooLarge: () => ({ status: 413, body: { errors: [{ message: 'The request body is too large', extensions: { code: 'BAD_REQUEST' } }] } }),
  internal: (requestId: string | undefined, status = 500) => ({ status, body: { errors: [{ message: `Internal error (request ${requestId})`, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] } }),
};

/** Headers a client may send to name its request; echoed back as `x-request-id`. */
const REQUEST_ID_HEADER = 'x-request-id';

/** Returns the request id given by the client (when sane) or a new one. */
export function requestIdOf(req: Pick<IncomingMessage, 'headers'>): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
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
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, unknown> = { database: await databaseReachable(options.dataSource) };
    let ready = checks.database === true;
    for (const { name, check } of options.readinessChecks ?? []) {
      try {
        const r = await check();
        const ok = typeof r === 'boolean' ? r : r.ok;
        checks[name] = typeof r === 'boolean' ? r : r;
        ready &&= ok;
      } catch (e) {
        checks[name] = { ok: false, detail: (e as Error).message };
        ready = false;
      }
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/graphql', (req, res, next) => {
    if (options.graphiql && req.accepts(['application/json', 'text/html']) === 'text/html' && !req.query.query) {
      res.type('html').send(graphiqlPage());
      return;
    }
    next();
  });

  app.use('/graphql', express.json({ limit: MAX_GRAPHQL_BODY_BYTES }));
  return app;
}

/** Last handler: turns body-parser failures into GraphQL-shaped 400s, outages into 503s, and hides internal errors. */
export function httpErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = err as { type?: string; status?: number; message?: string };
    const send = ({ status, body }: { status: number; body: unknown }) => void res.status(status).json(body);
    if (e.type === 'entity.parse.failed') return send(httpErrors.invalidJson(e.message ?? ''));
    if (e.type === 'entity.too.large') return send(httpErrors.tooLarge());
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
