import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Request, Response } from 'express';
import { bearerSecret } from '../auth/bearer';
import { fromDatabaseError, isRspError, OutageError, UnauthenticatedError } from '../errors';
import type { Logger } from '../logging/logger';
import type { Services } from '../services';
import { allowSlowUpload } from './body-deadline';
import { MAX_DRAINED_BODY_BYTES } from './graphql-post';

const STATUS: Record<string, number> = { BAD_USER_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, UNAVAILABLE: 503 };

/**
 * `PUT /images/:id/content` — uploads an image's bits (a root filesystem tarball) as the raw
 * request body, with the same bearer token as GraphQL. Answers the image's digest and size, or a
 * GraphQL-shaped error with its code. A refused upload (of a format the image's drivers do not
 * take, wrong digest, too large, over the group's storage quota) keeps nothing; its answer waits for the rest of the body (read and dropped, up to
 * `MAX_DRAINED_BODY_BYTES`) and closes the connection, so a client still sending can read it. An
 * unreachable database answers 503 with `Retry-After`. Once the token authenticates, the body may
 * take as long as it needs while it keeps sending (`uploadIdleMs` without a byte cuts it).
 */
export function imageUploadHandler(services: Services, logger: Logger, uploadIdleMs: number) {
  return async (req: Request, res: Response): Promise<void> => {
    // The store reads a copy of the body: when it stops early, the request itself is left whole to drain.
    const body = new PassThrough();
    // The store sees a failure of the body through its pipeline; once it is done, nothing listens.
    body.on('error', () => undefined);
    req.on('error', (e) => body.destroy(e));
    req.on('aborted', () => body.destroy(new Error('the client went away')));
    req.pipe(body);
    try {
      const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
      if (!actor || actor.kind !== 'token') throw new UnauthenticatedError();
      allowSlowUpload(req, uploadIdleMs);
      const image = await services.images.storeContent(actor, String(req.params.id), body, announcedLength(req));
      res.json({ id: image.id, digest: image.digest, sizeBytes: image.sizeBytes, format: image.format });
    } catch (e) {
      const error = isRspError(e) ? e : fromDatabaseError(e) ?? null;
      if (!error && !req.destroyed) logger.error({ err: e, requestId: res.locals.requestId }, 'image upload failed');
      else if (error?.details.reason === 'DISK_FULL') logger.warn({ err: e, requestId: res.locals.requestId }, 'image upload failed: the image store (RSP_IMAGE_DIR) or the database is out of disk space');
      const code = error?.category ?? 'INTERNAL_SERVER_ERROR';
      req.unpipe(body);
      await drained(req);
      if (req.destroyed && !req.complete) return;
      res.set('connection', 'close');
      if (error instanceof OutageError) res.set('retry-after', String(error.retryAfterSeconds));
      res.status(STATUS[code] ?? 500).json({ errors: [{ message: error?.message ?? `Internal error (request ${res.locals.requestId})`, extensions: { code, ...(error && Object.keys(error.details).length ? { details: error.details } : {}) } }] });
    }
  };
}

/** The body's length from `Content-Length`; undefined when it is not given (chunked). */
function announcedLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  return header && /^\d+$/.test(header) ? Number(header) : undefined;
}

/** Resolves once the request's body is all read (dropped), it is gone, or more than `MAX_DRAINED_BODY_BYTES` came. */
function drained(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let bytes = 0;
    const done = () => {
      req.off('data', count);
      resolve();
    };
    const count = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_DRAINED_BODY_BYTES) done();
    };
    req.on('data', count);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}
