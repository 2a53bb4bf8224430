import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Locator, Page } from 'playwright-core';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from './databases';
import { CHROMIUM } from './engines';
import { startTestGateway, TestGateway } from './gateway';
import { buildWorld, World } from './scenario';
import { until } from './until';

/** Where the dashboard tests save their screenshots (gitignored; CI keeps them as artifacts). */
export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

/** Where a failed browser test's page is saved (`browserTest`): one folder per failure. */
export const FAILURE_ARTIFACTS = join(ARTIFACTS, 'failures');

/** What each browser's pages logged (console messages, uncaught errors, failed requests), with times, from its launch. */
const browserLogs = new WeakMap<BrowserContext, string[]>();

/** Debian's chromium, headless, offline, with a profile of its own; what its pages log is kept for `saveBrowserState`. */
export async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 },
  });
  const log: string[] = [];
  browserLogs.set(context, log);
  const at = () => new Date().toISOString();
  context.on('console', (m) => log.push(`${at()} console.${m.type()} ${m.text()} (${m.location().url}:${m.location().lineNumber})`));
  context.on('weberror', (e) => log.push(`${at()} uncaught ${e.error().stack ?? e.error().message}`));
  context.on('requestfailed', (r) => log.push(`${at()} request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText ?? ''}`));
  context.on('response', (r) => {
    if (r.status() >= 400) log.push(`${at()} ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return context;
}

/**
 * Saves the page as it is now into a new folder under test-artifacts/failures/ and returns its
 * path: screenshot.png (full page), page.html (the live DOM), console.log (what the browser's
 * pages logged since its launch, the page's address first). Each part is saved even when another
 * cannot be (a crashed page still gets its log).
 */
export async function saveBrowserState(page: Page, name: string): Promise<string> {
  const dir = join(FAILURE_ARTIFACTS, `${name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 80)}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const problems: string[] = [];
  await page.screenshot({ path: join(dir, 'screenshot.png'), fullPage: true, timeout: 15_000 }).catch((e: Error) => problems.push(`screenshot: ${e.message}`));
  await page.content().then((html) => writeFileSync(join(dir, 'page.html'), html), (e: Error) => problems.push(`page.html: ${e.message}`));
  const log = browserLogs.get(page.context()) ?? [];
  writeFileSync(join(dir, 'console.log'), [`url: ${page.url()}`, ...problems.map((p) => `not saved: ${p}`), ...log, ''].join('\n'));
  return dir;
}

/**
 * `test` for a browser suite: when the test fails, the page (`page()`, if opened) is saved with
 * `saveBrowserState` and the error names the folder, so a CI failure shows what the browser showed.
 */
export function browserTest(suite: string, page: () => Page | undefined): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  return (name, fn, timeout) =>
    test(name, async () => {
      try {
        await fn();
      } catch (e) {
        const open = page();
        if (open && !open.isClosed()) {
          const saved = await saveBrowserState(open, `${suite}-${name}`).catch((err: Error) => `(not saved: ${err.message})`);
          if (e instanceof Error) {
            const before = e.message;
            e.message = `${before}\n\nThe browser's page, HTML and console log: ${saved}`;
            // Jest shows an error's stack, which began with the old message (an expect's failure: its message, and the stack after it).
            if (!('matcherResult' in e) && e.stack?.includes(before)) e.stack = e.stack.replace(before, e.message);
          }
        }
        throw e;
      }
    }, timeout);
}

/** Saves a full-page screenshot as `test-artifacts/<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (statSync(path).size < 1000) throw new Error(`the screenshot ${path} is empty`);
  return path;
}

/** A chart's point count, how many came from the history, and its last values (the chart exposes them as data attributes). */
export async function chartState(page: Page, title: string): Promise<{ points: number; history: number; last: string }> {
  const chart = page.locator(`figure.chart[data-chart="${title}"]`);
  return { points: Number(await chart.getAttribute('data-points')), history: Number(await chart.getAttribute('data-history')), last: (await chart.getAttribute('data-last')) ?? '' };
}

/** A link of the main navigation. */
export function nav(page: Page, label: string): Locator {
  return page.locator('nav.nav').getByRole('link', { name: label, exact: true });
}

/** Waits until the locator's text matches `pattern` (whitespace collapsed), else fails with the text it had. */
export async function expectText(locator: Locator, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  let last = '';
  try {
    await until(String(pattern), async () => {
      last = ((await locator.first().textContent({ timeout: timeoutMs })) ?? '').replace(/\s+/g, ' ');
      return pattern.test(last);
    }, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the text was: ${last}`);
  }
}

/** Logs in on the login form with `token` and waits for the dashboard. */
export async function logIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('header .viewer').waitFor();
}

/** The elements wider than the window (right edge past it), as "tag.class" with their widths: what makes a page scroll sideways. */
export async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.right <= width + 0.5 || r.width === 0) continue;
      // What a scrolling or clipping box holds does not widen the page (unless it is positioned out of it).
      let clipped = false;
      const positioned = ['absolute', 'fixed'].includes(getComputedStyle(el).position);
      for (let up = el.parentElement; up && up !== document.body && !clipped && !positioned; up = up.parentElement) clipped = getComputedStyle(up).overflowX !== 'visible';
      if (clipped) continue;
      // Report the outermost only: skip an element inside one already reported.
      if (out.length && el.parentElement?.closest('[data-overflow-reported]')) continue;
      el.setAttribute('data-overflow-reported', '');
      out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (${Math.round(r.right)} px)`);
    }
    for (const el of Array.from(document.querySelectorAll('[data-overflow-reported]'))) el.removeAttribute('data-overflow-reported');
    return out;
  });
}

/** axe-core's script, read at its first use (evaluated in the page: the dashboard's CSP allows no inline script; evaluation is not one). */
let axeScript: string | undefined;

/** One axe violation, as the test reports it. */
export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Runs axe on the page as it is and returns its serious and critical violations. */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate((axeScript ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')));
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, options: object) => Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.map(String).join(' ')) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** What every dashboard suite opens with: a gateway on PGlite with the scenario world, and Chromium on a profile of its own. */
export interface DashboardFixture {
  db: TestDatabase;
  t: TestGateway;
  w: World;
  page: Page;
  /** Uncaught errors of the page, collected from the start. */
  pageErrors: string[];
  /** Closes the browser, removes its profile, stops the gateway and drops the database. */
  close(): Promise<void>;
}

/** Opens the gateway and the browser of a dashboard suite (see `DashboardFixture`). */
export async function openDashboard(): Promise<DashboardFixture> {
  const db = await createTestDatabase('pglite');
  const t = await startTestGateway(db);
  const w = await buildWorld(t);
  const profile = mkdtempSync(join(tmpdir(), 'rsp-chromium-'));
  const browser = await launchChromium(profile);
  const page = browser.pages()[0] ?? (await browser.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return {
    db,
    t,
    w,
    page,
    pageErrors,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
      await t.close();
      await db.drop();
    },
  };
}

/** Registers group A's `app` image (fake technology, a small root filesystem) and creates environment `web` from it on host 1; returns its id once it is CREATED. */
export async function createWebEnvironment(t: TestGateway, w: World): Promise<string> {
  const member = w.tokens.memberA;
  const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } }, member)).registerImage.id as string;
  const uploaded = await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\nVERSION=1\n' }), member);
  if (uploaded.status !== 200) throw new Error(`the image upload answered ${uploaded.status}`);
  const created = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'web', limits: { memoryBytes: 2 ** 30 } } }, member);
  const id = created.createEnvironment.environment.id as string;
  await until('the environment to be created', async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id }, member)).environment.status === 'CREATED', 15_000, 200);
  return id;
}
