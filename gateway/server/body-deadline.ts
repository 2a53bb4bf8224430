import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/** How long request bodies may take: all of one (`bodyMs`), or, for an upload let through, between two of its bytes (`uploadIdleMs`). */
export interface BodyTimeouts {
  bodyMs: number;
  uploadIdleMs: number;
}

/** Set on a request whose body `allowSlowUpload` exempts from the whole-body deadline. */
const SLOW_UPLOAD = Symbol('rsp.slowUpload');
type Marked = IncomingMessage & { [SLOW_UPLOAD]?: true };

/**
 * Wraps the gateway's request handler with a deadline for each request's body, in place of
 * Node's own `requestTimeout` (which the caller turns off): a client that has not sent the whole
 * body within `bodyMs` gets 408 `REQUEST_TIMEOUT` and its connection is closed, as Node did, so a
 * slow or stalled sender holds no connection for long. Node's deadline cannot spare one request;
 * this one spares the uploads `allowSlowUpload` lets through (an image of gigabytes on a slow
 * link takes longer than any fixed deadline), which are cut only when they stall.
 */
export function withBodyDeadline(handler: RequestListener, timeouts: BodyTimeouts): RequestListener {
  return (req, res) => {
    if (timeouts.bodyMs > 0) {
      const timer = setTimeout(() => {
        if (!req.complete && !(req as Marked)[SLOW_UPLOAD]) refuseSlowBody(req, res, timeouts.bodyMs);
      }, timeouts.bodyMs);
      timer.unref();
      const clear = () => clearTimeout(timer);
      req.once('end', clear);
      req.once('close', clear);
    }
    handler(req, res);
  };
}

/**
 * Lets an authenticated upload's body take as long as it needs while bytes keep coming: the
 * whole-body deadline no longer applies to it, and its connection is closed once `idleMs` pass
 * without a byte either way (the upload then fails as a client that went away, and keeps nothing).
 */
export function allowSlowUpload(req: IncomingMessage, idleMs: number): void {
  if (req.complete || idleMs <= 0) return;
  (req as Marked)[SLOW_UPLOAD] = true;
  const socket = req.socket;
  const stalled = () => socket.destroy(new Error(`the upload sent nothing for ${idleMs} ms`));
  socket.setTimeout(idleMs);
  socket.once('timeout', stalled);
  const done = () => {
    socket.off('timeout', stalled);
    if (!socket.destroyed) socket.setTimeout(0);
  };
  req.once('end', done);
  req.once('close', done);
}

/** Answers 408 (GraphQL-shaped, code REQUEST_TIMEOUT) to a request whose body came too slowly, and closes its connection. */
function refuseSlowBody(req: IncomingMessage, res: ServerResponse, bodyMs: number): void {
  const socket = req.socket;
  if (res.headersSent || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ message: `The request's body did not all come within ${Math.round(bodyMs / 1000)} s`, extensions: { code: 'REQUEST_TIMEOUT' } }] });
  res.writeHead(408, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body, () => socket.destroy());
  // A client that reads nothing either does not get to hold the connection by not reading.
  setTimeout(() => socket.destroy(), 1000).unref();
}
