import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import express, { NextFunction, Request, Response } from 'express';

/** Where Vite puts fingerprinted files (their names change with their content). */
const ASSETS_PREFIX = '/assets/';

/** A year: fingerprinted files never change under the same name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The page itself is revalidated on every load so a new build is picked up at once. */
const REVALIDATE = 'no-cache';

/**
 * What the dashboard page may load and talk to: only this gateway (no CDN, no inline script).
 * uPlot sizes its elements through style attributes, hence 'unsafe-inline' for styles only.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The built dashboard's folder: `dist/web` of the package, found by walking up from this file
 * (it runs from `dist/gateway/server` once compiled and from `gateway/server` under jest).
 */
export function defaultWebDir(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return resolve('dist', 'web');
    dir = parent;
  }
  return join(dir, 'dist', 'web');
}

/**
 * Serves the dashboard built by Vite from `webDir`: its files with their content types,
 * fingerprinted assets cached for a year, and `index.html` (revalidated) for every other page a
 * browser asks for, so that the dashboard's own paths (`/hosts/…`) load it too. Mount it after
 * every API route. When the dashboard was never built, `/` says how to build it.
 */
export function dashboardHandler(dir: string): express.Router {
  const webDir = resolve(dir);
  const router = express.Router();
  const index = join(webDir, 'index.html');

  router.use(
    express.static(webDir, {
      index: false,
      fallthrough: true,
      setHeaders: (res, path) => {
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Cache-Control', path.startsWith(join(webDir, 'assets')) ? IMMUTABLE : REVALIDATE);
      },
    }),
  );

  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // A missing file (anything with an extension, or under assets/) is a 404, never the page.
    if (req.path.startsWith(ASSETS_PREFIX) || /\.[^/]*$/.test(req.path)) return next();
    if (req.accepts(['text/html', 'application/json']) !== 'text/html') return next();
    res.setHeader('Cache-Control', REVALIDATE);
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (!existsSync(index)) {
      res.status(503).type('html').send(notBuiltPage(webDir));
      return;
    }
    res.sendFile(index, { headers: { 'Content-Type': 'text/html; charset=utf-8' } });
  });
  return router;
}

function notBuiltPage(webDir: string): string {
  const escaped = webDir.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html><meta charset="utf-8"><title>RSP</title>
<p>The dashboard is not built (no <code>${escaped}/index.html</code>): run <code>npm run build</code>.
<p>The GraphQL IDE is at <a href="/graphql">/graphql</a>.`;
}
