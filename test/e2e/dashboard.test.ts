import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { createRootfsTar } from '../../drivers/fake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { CHROMIUM, describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, UNCONNECTED_AGENT, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** Where the screenshot is saved (gitignored). */
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

/** Debian's chromium, headless, offline, with a profile of its own. */
async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 },
  });
}

/** Reads a chart's point count and last values (the chart exposes them as data attributes). */
async function chartState(page: Page, title: string): Promise<{ points: number; last: string }> {
  const chart = page.locator(`figure.chart[data-chart="${title}"]`);
  return { points: Number(await chart.getAttribute('data-points')), last: (await chart.getAttribute('data-last')) ?? '' };
}

/**
 * The dashboard in a real browser against an in-process gateway (fake driver for environments,
 * host metrics sampled from this machine's /proc): login, live charts, starting an environment.
 */
describeWithEngine('chromium', 'dashboard in Chromium', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  let envId: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t);
    const member = w.tokens.memberA;
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '1', technology: 'fake' } }, member)).registerImage.id as string;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\nVERSION=1\n' }), member)).status).toBe(200);
    const created = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'web', limits: { memoryBytes: 2 ** 30 } } }, member);
    envId = created.createEnvironment.environment.id;
    await until('the environment to be created', async () => (await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: envId }, member)).environment.status === 'CREATED', 15_000, 200);

    profile = mkdtempSync(join(tmpdir(), 'rsp-chromium-'));
    browser = await launchChromium(profile);
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await t?.close();
    await db?.drop();
  });

  test('a wrong token is refused with its code; a member token logs in and shows who it is', async () => {
    await page.goto(t.gateway.url);
    await page.getByLabel('API token').fill('rsp_not-a-real-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expectText(page.getByRole('alert'), /UNAUTHENTICATED/);

    await page.getByLabel('API token').fill(w.tokens.memberA);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('header .viewer').waitFor();
    await expectText(page.locator('header .viewer'), /ma · member of Alpha collective/);
    await expectText(page.locator('.stat').filter({ hasText: 'Hosts up' }), /\d+ \/ 2/);
    expect(await page.evaluate(() => localStorage.getItem('rsp.token'))).toBe(w.tokens.memberA);
    // The overview charts the site's hosts added up (siteMetrics).
    await until('a sample of site north', async () => (await chartState(page, 'CPU of north')).points >= 1, 20_000, 200);
    await expectText(page.locator('.panel', { hasText: 'Site north' }).locator('.live-note'), /Live: 1 host,/);
  });

  test("each host shows its agent; a host whose agent never connected waits for it and is not counted up", async () => {
    const marvin = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'marvin', drivers: ['lxc'], agent: UNCONNECTED_AGENT, shareUnits: 1 } })).createHost.id as string;
    await nav(page, 'Sites & hosts').click();
    const zaphod = page.locator('.host[data-host="zaphod"]');
    const { host: served } = await t.ok('query ($id: ID!) { host(id: $id) { state agentConnection { agentId state } } }', { id: w.host1 });
    expect(served.agentConnection.state).toBe('CONNECTED');
    await expectText(zaphod.locator('.agent'), new RegExp(`^agent ${served.agentConnection.agentId} · (v\\S+ · )?connected · heartbeat (just now|\\d+ s ago)$`));
    const lost = page.locator('.host[data-host="marvin"]');
    await expectText(lost.locator('.agent'), /^agent simulated · never connected · no heartbeat yet$/);
    await expectText(lost.locator('.host-head .badge'), /^waiting for its agent$/);
    expect(await lost.locator('.host-head .badge').getAttribute('data-status')).toBe('UNKNOWN');

    await page.getByRole('link', { name: 'marvin' }).click();
    await page.waitForURL(`**/hosts/${marvin}`);
    await expectText(page.locator('h1'), /marvin\s*waiting for its agent/);
    await expectText(page.locator('.agent'), /never connected/);

    const { hosts } = await t.ok('{ hosts(first: 10) { nodes { state } } }');
    const up = (hosts.nodes as Array<{ state: string }>).filter((x) => x.state === 'UP').length;
    expect(up).toBeLessThan(3);
    await nav(page, 'Overview').click();
    await expectText(page.locator('.stat').filter({ hasText: 'Hosts up' }), new RegExp(`Hosts up\\s*${up} / 3`));
    await t.ok('mutation ($id: ID!) { deleteHost(id: $id) }', { id: marvin });
  });

  test('the host page plots live host metrics from this machine, and the chart grows', async () => {
    await nav(page, 'Sites & hosts').click();
    await page.getByRole('link', { name: 'zaphod' }).click();
    await page.waitForURL(`**/hosts/${w.host1}`);
    await expectText(page.locator('h1'), /zaphod/);

    await until('two memory points', async () => (await chartState(page, 'Memory')).points >= 2, 20_000, 200);
    const first = await chartState(page, 'Memory');
    const seen = new Set([first.last]);
    await until('three more memory points', async () => {
      const now = await chartState(page, 'Memory');
      seen.add(now.last);
      return now.points >= first.points + 3;
    }, 20_000, 200);
    // Real samples: memory in use moves between samples and stays within this machine's memory.
    expect(seen.size).toBeGreaterThan(1);
    for (const value of seen) {
      expect(Number(value)).toBeGreaterThan(0);
      expect(Number(value)).toBeLessThanOrEqual(totalmem());
    }
    const cpu = await chartState(page, 'CPU');
    expect(cpu.points).toBeGreaterThanOrEqual(3);
    expect(Number(cpu.last)).toBeGreaterThanOrEqual(0);
    expect(Number(cpu.last)).toBeLessThanOrEqual(100);
    expect(await page.locator('figure.chart[data-chart="CPU"] canvas').count()).toBe(1);
    await expectText(page.locator('.live-note'), /Live: \d+ samples/);
  });

  test('Start on an environment runs the operation to SUCCEEDED in the dock and the environment shows RUNNING', async () => {
    const row = page.locator('tr', { hasText: 'web' });
    await expectText(row, /CREATED/);
    await page.getByRole('button', { name: 'Start web', exact: true }).click();

    const item = page.locator('.dock-item').first();
    await item.waitFor();
    await expectText(item, /Start web/);
    await page.locator('.dock-item[data-state="SUCCEEDED"]').waitFor({ timeout: 20_000 });
    await expectText(item, /SUCCEEDED.*environment\.start.*100 %/);
    await expectText(page.locator('tr', { hasText: 'web' }).locator('.badge'), /RUNNING/);
    expect((await t.ok('query ($id: ID!) { environment(id: $id) { status } }', { id: envId }, w.tokens.memberA)).environment.status).toBe('RUNNING');
    // Once running, Start is disabled and Stop is offered.
    expect(await page.getByRole('button', { name: 'Start web', exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Stop web', exact: true }).isEnabled()).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    process.stdout.write(`dashboard screenshot: ${shot}\n`);
  });

  test("the environment's page plots its live metrics and lists its operations", async () => {
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.waitForURL(`**/environments/${envId}`);
    await expectText(page.locator('h1'), /web\s*RUNNING/);
    await until('two environment memory points', async () => (await chartState(page, 'Memory')).points >= 2, 20_000, 200);
    await expectText(page.locator('.panel', { hasText: 'Operations' }), /environment\.start\s*SUCCEEDED/);
  });

  test('the Replication view shows a policy and its status; Replicate now runs it in the dock and the policy shows its sync and replicas, live', async () => {
    const POLICY_STATUS = 'query ($id: ID!) { replicationPolicy(id: $id) { status { state lastSyncAt } } replicas(policyId: $id) { id } }';
    const policy = (await t.ok('mutation ($i: CreateReplicationPolicyInput!) { createReplicationPolicy(input: $i) { id } }', { i: { environmentId: envId, name: 'nightly', targetKind: 'HOST', targetId: w.host2, schedule: '0 3 * * *', keep: 2 } }, w.tokens.memberA)).createReplicationPolicy.id as string;

    // The environment's page lists its policies and links to them.
    await page.reload();
    const listed = page.locator('.panel', { hasText: 'Replication' }).locator('tr', { hasText: 'nightly' });
    await expectText(listed, /nightly\s*PENDING\s*host trillian\s*0 3 \* \* \*\s*never\s*0/);
    await listed.getByRole('link', { name: 'nightly' }).click();
    await page.waitForURL(`**/replication/environments/${envId}`);
    await expectText(page.locator('main h1'), /Replication of web/);

    const card = page.locator('article[data-policy="nightly"]');
    await expectText(card, /nightly\s*PENDING\s*of web.*Target\s*host trillian.*Keeps\s*2 replicas.*Automatic failover\s*off.*Last sync\s*never.*Next run\s*in \d+ (h|min).*No replicas yet/);
    expect(await card.getAttribute('data-replicas')).toBe('0');

    await page.getByRole('button', { name: 'Replicate nightly now', exact: true }).click();
    const item = page.locator('.dock-item', { hasText: 'Replicate nightly' }).first();
    await item.waitFor();
    await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Replicate nightly' }).waitFor({ timeout: 30_000 });
    await expectText(item, /SUCCEEDED.*replication\.run.*100 %/);
    await until('the policy to show OK with one replica', async () => (await card.getAttribute('data-replicas')) === '1' && (await card.getAttribute('data-state')) === 'OK', 15_000, 200);
    const after = await t.ok(POLICY_STATUS, { id: policy }, w.tokens.memberA);
    expect(after.replicationPolicy.status.state).toBe('OK');
    expect(await card.getAttribute('data-last-sync')).toBe(after.replicationPolicy.status.lastSyncAt);
    await expectText(card, /OK.*Last sync\s*(just now|\d+ s ago).*Failures\s*none.*Replicas \(1\).*trillian/);
    expect(await page.getByRole('button', { name: 'Replicate nightly now', exact: true }).isEnabled()).toBe(true);

    // A run started elsewhere (the API) shows up live, from the events stream.
    const lastSync = after.replicationPolicy.status.lastSyncAt as string;
    const op = (await t.ok('mutation ($id: ID!) { replicateNow(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).replicateNow;
    expect((await t.gateway.services.operations.settled(op.id)).state).toBe('SUCCEEDED');
    // The replica and the policy's last sync are written apart: the card may show one before the other, and must end with both.
    await until(
      'the second replica and a newer last sync to appear without a reload',
      async () => (await card.getAttribute('data-replicas')) === '2' && Date.parse((await card.getAttribute('data-last-sync')) ?? '') > Date.parse(lastSync),
      15_000,
      200,
    );
    expect((await t.ok(POLICY_STATUS, { id: policy }, w.tokens.memberA)).replicas).toHaveLength(2);

    // The navigation's Replication lists every policy the token may see.
    await nav(page, 'Replication').click();
    await page.waitForURL('**/replication');
    await expectText(page.locator('article[data-policy="nightly"]'), /OK\s*of web.*Replicas \(2\)/);
    expect(await page.locator('.error').count()).toBe(0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-replication.png'), fullPage: true });
  });

  test('the other views load without errors: capacity, groups, operations, alerts', async () => {
    await nav(page, 'Capacity').click();
    await expectText(page.locator('[data-resource-type="RAM"]'), /used/);
    // web's 1 GiB memory limit is an implicit RAM allocation on zaphod.
    await expectText(page.locator('.panel', { hasText: 'RAM' }).first(), /37\.0 GiB free of 38\.0 GiB/);
    await nav(page, 'Groups').click();
    await expectText(page.locator('[data-group="alpha"]'), /your group.*2 × 4 h\/week sysadmin/s);
    await expectText(page.locator('[data-group="beta"]'), /Beta co-op/);
    await nav(page, 'Operations').click();
    await expectText(page.locator('table'), /environment\.start.*SUCCEEDED/);
    await nav(page, 'Alerts').click();
    await expectText(page.locator('main'), /No alerts/);
    expect(await page.locator('.error').count()).toBe(0);
  });

  test('on a phone-sized screen nothing overflows sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/', '/capacity', '/groups', '/operations', '/replication', '/sites', `/hosts/${w.host1}`]) {
        await page.goto(`${t.gateway.url}${path}`);
        await page.locator('main h1').first().waitFor();
        await page.waitForLoadState('networkidle');
        const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
        expect({ path, scroll }).toEqual({ path, scroll: width });
      }
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });

  test('a revoked token ends the session with a notice; log out forgets the token', async () => {
    const issued = await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: { groupId: w.groupA, role: 'VIEWER', name: 'short-lived' } });
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('API token').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('rsp.token'))).toBeNull();

    await page.getByLabel('API token').fill(issued.createToken.secret);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expectText(page.locator('header .viewer'), /short-lived · viewer/);
    // A viewer may look but not act.
    await nav(page, 'Sites & hosts').click();
    await page.getByRole('button', { name: 'Stop web', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Stop web', exact: true }).isDisabled()).toBe(true);
    await nav(page, 'Replication').click();
    await page.locator('article[data-policy="nightly"]').waitFor();
    expect(await page.getByRole('button', { name: 'Replicate nightly now', exact: true }).isDisabled()).toBe(true);

    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { id } }', { id: issued.createToken.token.id });
    // The gateway closes the revoked token's live connection (4403): where a page holds one the
    // session ends at once, elsewhere at the next request (the click may find the nav already gone).
    await nav(page, 'Groups').click({ timeout: 2_000 }).catch(() => undefined);
    await expectText(page.getByRole('alert'), /refused your token/);
    expect(await page.evaluate(() => localStorage.getItem('rsp.token'))).toBeNull();

    // A stored token that no longer works, on a fresh load: the login form says so.
    await page.evaluate((secret) => localStorage.setItem('rsp.token', secret), issued.createToken.secret);
    await page.goto(`${t.gateway.url}/capacity`);
    await expectText(page.getByRole('alert'), /refused your token/);
    expect(page.url()).toBe(`${t.gateway.url}/`);
    expect(pageErrors).toEqual([]);
  });
});

/** A link of the main navigation. */
function nav(page: Page, label: string) {
  return page.locator('nav.nav').getByRole('link', { name: label, exact: true });
}

/** Waits until the locator's text matches `pattern` (whitespace collapsed), else fails with the text it had. */
async function expectText(locator: ReturnType<Page['locator']>, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
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
