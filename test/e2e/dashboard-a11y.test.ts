import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserTest, createWebEnvironment, DashboardFixture, expectText, logIn, openDashboard, overflowing, screenshot, seriousViolations, Violation } from '../helpers/dashboard';
import { describeWithEngine } from '../helpers/engines';
import { TestGateway } from '../helpers/gateway';
import { World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** A violation in one line: "color-contrast (serious): Elements must meet … — .badge, th > button". */
function describe(path: string, v: Violation): string {
  return `${path}: ${v.id} (${v.impact}): ${v.help} — ${v.targets.join(', ')}`;
}

/**
 * Every view of the dashboard, in Chromium against an in-process gateway with a running
 * environment and a replication policy (the listed pages and every page of the navigation):
 * axe-core finds no serious or critical violation, nothing
 * scrolls sideways on a phone-sized screen, and the lists' tables sort and filter from the keyboard.
 */
describeWithEngine('chromium', 'dashboard accessibility in Chromium', () => {
  let fx: DashboardFixture;
  let t: TestGateway;
  let w: World;
  let page: Page;
  /** `test`, saving the page, its HTML and the browser's console log when it fails (the error names the folder). */
  const test = browserTest('dashboard-a11y', () => page);
  let envId: string;
  let paths: string[];
  let pageErrors: string[];

  beforeAll(async () => {
    fx = await openDashboard();
    ({ t, w, page, pageErrors } = fx);
    envId = await createWebEnvironment(t, w);
    const member = w.tokens.memberA;
    const started = (await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: envId }, member)).startEnvironment;
    expect((await t.gateway.services.operations.settled(started.id)).state).toBe('SUCCEEDED');
    await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: envId, name: 'nightly', targetKind: 'HOST', targetId: w.host2, schedule: '0 3 * * *', keep: 2 } }, member);
    paths = ['/', '/sites', '/hosts', `/hosts/${w.host1}`, '/environments', `/environments/${envId}`, '/capacity', '/groups', '/operations', '/alerts', '/replication', `/replication/environments/${envId}`, '/images', '/environments/new'];
  }, 120_000);

  afterAll(() => fx?.close());

  /** Opens `path` and waits until its content (not "Loading…") is shown. */
  async function open(path: string): Promise<void> {
    await page.goto(`${t.gateway.url}${path}`);
    await page.locator('main h1').first().waitFor();
    await until(`${path} to finish loading`, async () => (await page.locator('main .loading').count()) === 0, 15_000, 200);
    await page.waitForLoadState('networkidle');
  }

  test('the login page has no serious accessibility violation', async () => {
    await page.goto(t.gateway.url);
    await page.getByLabel('API token').waitFor();
    expect((await seriousViolations(page)).map((v) => describe('login', v))).toEqual([]);
  });

  test('no view has a serious or critical accessibility violation (axe-core)', async () => {
    await logIn(page, t.gateway.url, t.adminToken);
    // Every page of the navigation is checked too, also one added after this test was written.
    const navigated = await page.locator('nav.nav a').evaluateAll((links) => links.map((a) => new URL((a as HTMLAnchorElement).href).pathname));
    expect(navigated.length).toBeGreaterThanOrEqual(9);
    paths.push(...navigated.filter((p) => !paths.includes(p)));
    const found: string[] = [];
    for (const path of paths) {
      await open(path);
      found.push(...(await seriousViolations(page)).map((v) => describe(path, v)));
    }
    await open(`/hosts/${w.host1}`);
    await screenshot(page, 'dashboard-a11y-host');
    expect(found).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test('on a phone-sized screen no view scrolls sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const wide: string[] = [];
      for (const path of paths) {
        await open(path);
        const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
        if (scroll > width) wide.push(`${path}: ${scroll} px wide, by ${(await overflowing(page)).join(', ')}`);
      }
      await open(`/environments/${envId}`);
      await screenshot(page, 'dashboard-phone-environment');
      expect(wide).toEqual([]);
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });

  test('the hosts list has a row per host with its capacity bars, and filters by name', async () => {
    await open('/hosts');
    const rows = page.locator('main table[aria-label="hosts"] tbody tr:not([hidden])');
    expect(await rows.count()).toBe(2);
    const zaphod = rows.filter({ hasText: 'zaphod' });
    await expectText(zaphod, /zaphod\s*UP\s*north\s*Alpha collective\s*connected/);
    // web's 1 GiB memory limit is used of zaphod's RAM: its bar says so.
    await expectText(zaphod.locator('td').nth(7), /1\.00 GiB of 3\d\.\d GiB/);
    expect(await zaphod.locator('[role="meter"]').count()).toBe(3);
    await screenshot(page, 'dashboard-hosts');
    await page.getByRole('searchbox', { name: 'Filter hosts' }).fill('trill');
    await until('one host left', async () => (await rows.count()) === 1, 5_000, 100);
    await expectText(rows, /trillian/);
  });

  test('the environments list shows each environment with its host, status and actions', async () => {
    await open('/environments');
    const row = page.locator('main table[aria-label="environments"] tbody tr', { hasText: 'web' });
    await expectText(row, /web\s*RUNNING\s*zaphod\s*Alpha collective\s*fake \(fake\)\s*no quota\s*1\.00 GiB/);
    expect(await row.getByRole('button', { name: 'Stop web', exact: true }).isEnabled()).toBe(true);
    await open('/groups');
    await expectText(page.locator('main table[aria-label="groups"]'), /Alpha collective.*Beta co-op/);
  });

  test('a list sorts by a column from the keyboard (Enter on its header) and filters as one types', async () => {
    await open('/operations');
    const rows = page.locator('main table tbody tr:not([hidden])');
    const total = await rows.count();
    expect(total).toBeGreaterThanOrEqual(2);
    const kind = page.getByRole('columnheader', { name: 'Kind' });
    expect(await kind.getAttribute('aria-sort')).toBe('none');

    await kind.getByRole('button').focus();
    await page.keyboard.press('Enter');
    expect(await kind.getAttribute('aria-sort')).toBe('ascending');
    const kinds = async () => (await page.locator('main table tbody tr:not([hidden]) td:first-child').allTextContents()).map((s) => s.trim());
    const ascending = await kinds();
    expect(ascending).toEqual([...ascending].sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' })));
    await page.keyboard.press('Enter');
    expect(await kind.getAttribute('aria-sort')).toBe('descending');
    expect(await kinds()).toEqual([...ascending].reverse());

    // The filter box is reached with Tab like every control, and keeps the rows holding what is typed.
    const filter = page.getByRole('searchbox', { name: 'Filter operations' });
    await filter.fill('environment.start');
    await until('the rows to be filtered', async () => (await rows.count()) < total, 5_000, 100);
    for (const k of await kinds()) expect(k).toBe('environment.start');
    await expectText(page.locator('.table-count'), /^\d+ of \d+$/);
    await filter.fill('no such operation');
    await expectText(page.locator('.table-none'), /No rows match the filter/);
    await filter.fill('');
    expect(await rows.count()).toBe(total);
  });
});
