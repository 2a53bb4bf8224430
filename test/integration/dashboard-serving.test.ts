import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

const WEB_DIR = join(__dirname, '..', '..', 'dist', 'web');

/** The gateway serves the dashboard built into dist/web (global setup builds it) at `/`. */
describe('dashboard static serving', () => {
  let db: TestDatabase;
  let t: TestGateway;
  const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('/ is the built page, revalidated on every load, with a strict content security policy', async () => {
    const res = await fetch(`${t.gateway.url}/`, { headers: html });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'.*script-src 'self'.*connect-src 'self' ws: wss:/);
    const body = await res.text();
    expect(body).toBe(readFileSync(join(WEB_DIR, 'index.html'), 'utf8'));
    // Built: the page loads fingerprinted bundles, not the sources.
    expect(body).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
    expect(body).not.toMatch(/src\/main\.ts/);
  });

  test('fingerprinted assets: their content types and a year of immutable caching', async () => {
    const assets = readdirSync(join(WEB_DIR, 'assets'));
    const js = assets.find((f) => f.endsWith('.js'))!;
    const css = assets.find((f) => f.endsWith('.css'))!;
    const jsRes = await fetch(`${t.gateway.url}/assets/${js}`);
    expect(jsRes.status).toBe(200);
    expect(jsRes.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(jsRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(jsRes.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await jsRes.arrayBuffer()).equals(readFileSync(join(WEB_DIR, 'assets', js)))).toBe(true);
    const cssRes = await fetch(`${t.gateway.url}/assets/${css}`);
    expect(cssRes.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(cssRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    // The bundle brings uPlot and graphql-ws with it: nothing is fetched from elsewhere.
    const source = await (await fetch(`${t.gateway.url}/assets/${js}`)).text();
    expect(source).toMatch(/graphql-transport-ws/);
    expect(source).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs|fonts)\./);
  });

  test("the dashboard's own paths get the page (SPA fallback); missing files are 404s", async () => {
    const deep = await fetch(`${t.gateway.url}/hosts/00000000-0000-4000-8000-000000000000`, { headers: html });
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await deep.text()).toMatch(/<div id="app">/);
    expect((await fetch(`${t.gateway.url}/assets/index-missing.js`, { headers: html })).status).toBe(404);
    expect((await fetch(`${t.gateway.url}/favicon.ico`, { headers: html })).status).toBe(404);
    // A JSON client asking for an unknown path is not sent the page.
    expect((await fetch(`${t.gateway.url}/nope`, { headers: { accept: 'application/json' } })).status).toBe(404);
    expect((await fetch(`${t.gateway.url}/`, { method: 'POST', headers: html })).status).toBe(404);
  });

  test('the API stays where it was: GraphQL, the IDE on GET /graphql, health', async () => {
    expect((await t.ok('{ gateway { site } }')).gateway.site).toBe('test-site');
    const ide = await fetch(`${t.gateway.url}/graphql`, { headers: html });
    expect(ide.status).toBe(200);
    expect(await ide.text()).toMatch(/RSP GraphQL/);
    expect(await (await fetch(`${t.gateway.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });

  test('a gateway whose dashboard is not built says how to build it, and keeps serving the API', async () => {
    const otherDb = await createTestDatabase('pglite');
    const other = await startTestGateway(otherDb, { RSP_WEB_DIR: join(otherDb.dataDir, 'no-such-build') });
    try {
      const res = await fetch(`${other.gateway.url}/`, { headers: html });
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/The dashboard is not built .*run <code>npm run build<\/code>/s);
      expect((await other.ok('{ __typename }')).__typename).toBe('Query');
    } finally {
      await other.close();
      await otherDb.drop();
    }
  });
});
