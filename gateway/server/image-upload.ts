import type { Request, Response } from 'express';
import { bearerSecret } from '../auth/bearer';
import { fromDatabaseError, isRspError, OutageError, UnauthenticatedError } from '../errors';
import type { Logger } from '../logging/logger';
import type { Services } from '../services';

const STATUS: Record<string, number> = { BAD_USER_INPUT: 400, UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, UNAVAILABLE: 503 };

/**
 * `PUT /images/:id/content` — uploads an image's bits (a root filesystem tarball) as the raw
 * request body, with the same bearer token as GraphQL. Answers the image's digest and size, or a
 * GraphQL-shaped error with its code (503 with `Retry-After` when the database is unreachable).
 */
export function imageUploadHandler(services: Services, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const actor = await services.tokens.authenticate(bearerSecret(req.headers.authorization));
      if (!actor || actor.kind !== 'token') throw new UnauthenticatedError();
      const image = await services.images.storeContent(actor, String(req.params.id), req);
      res.json({ id: image.id, digest: image.digest, sizeBytes: image.sizeBytes });
    } catch (e) {
      const error = isRspError(e) ? e : fromDatabaseError(e) ?? null;
      if (!error) logger.error({ err: e, requestId: res.locals.requestId }, 'image upload failed');
      const code = error?.category ?? 'INTERNAL_SERVER_ERROR';
      if (error instanceof OutageError) res.setHeader('retry-after', String(error.retryAfterSeconds));
      res.status(STATUS[code] ?? 500).json({ errors: [{ message: error?.message ?? `Internal error (request ${res.locals.requestId})`, extensions: { code } }] });
    }
  };
}
