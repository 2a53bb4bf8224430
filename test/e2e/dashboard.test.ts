import { totalmem } from 'node:os';
import type { Page } from 'playwright-core';
import { browserTest, chartState, createWebEnvironment, DashboardFixture, expectText, nav, openDashboard, screenshot } from '../helpers/dashboard';
import { describeWithEngine } from '../helpers/engines';
import { TestGateway } from '../helpers/gateway';
import { UNCONNECTED_AGENT, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/**
 * The dashboard in a real browser against an in-process gateway (fake driver for environments,
 * host metrics sampled from this machine's /proc): login, live charts, starting an environment.
 */
describeWithEngine('chromium', 'dashboard in Chromium', () => {
  let fx: DashboardFixture;
  let t: TestGateway;
  let w: World;
  let page: Page;
  /** `test`, saving the page, its HTML and the browser's console log when it fails (the error names the folder). */
  const test = browserTest('dashboard', () => page);
  let envId: string;
  let pageErrors: string[];

  beforeAll(async () => {
    fx = await openDashboard();
    ({ t, w, page, pageErrors } = fx);
    envId = await createWebEnvironment(t, w);
  }, 120_000);

  afterAll(() => fx?.close());

  test('a wrong token is refused with its code; a member token logs in and shows who it is', async () => {
    await page.goto(t.gateway.url);
    // A newcomer without a token is told where the first one is.
    await expectText(page.locator('body'), /No token\? The gateway’s first start printed a site-admin token in its terminal \(shown once\); a group admin creates more with rsp token create\./);
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
    // Its drivers as its agent reports them, with the image formats each takes.
    const drivers = (await t.ok<{ drivers: { name: string; imageFormats: string[] }[] }>('query ($h: ID!) { drivers(hostId: $h) { name imageFormats } }', { h: w.host1 }, w.tokens.memberA)).drivers;
    expect(drivers.length).toBeGreaterThan(0);
    for (const d of drivers) await expectText(page.locator('section.panel', { has: page.locator('h2', { hasText: /^Drivers$/ }) }).locator('tr', { hasText: d.name }), new RegExp(`${d.name}.*(yes|no).*${d.imageFormats.join('.*')}`));

    // The chart may open on stored history (no data-last): wait for a live sample too.
    await until('two memory points, the last one live', async () => {
      const now = await chartState(page, 'Memory');
      return now.points >= 2 && now.last !== '';
    }, 20_000, 200);
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

  test('the host page opens with the stored last hour, then goes on live; the range picker reads a day and back', async () => {
    // The metrics collector stores every host sample (1 s level, flushed each tick): wait until zaphod has some.
    const HISTORY = 'query ($id: ID!, $from: DateTimeISO!) { metricHistory(targetType: HOST, targetId: $id, metric: "memory.usedBytes", from: $from, step: 10) { points { at value } } }';
    await until('stored memory history of zaphod', async () => (await t.ok(HISTORY, { id: w.host1, from: new Date(Date.now() - 3_000_000).toISOString() }, w.tokens.memberA)).metricHistory.points.length >= 2, 30_000, 500);

    await page.goto(`${t.gateway.url}/hosts/${w.host1}`);
    const hour = page.getByRole('button', { name: 'Hour', exact: true });
    expect(await hour.getAttribute('aria-pressed')).toBe('true');
    await until('the memory chart to open with its stored past', async () => (await chartState(page, 'Memory')).history >= 2, 15_000, 200);
    await expectText(page.locator('.history-note'), /^Hour: \d+ stored points \(one per 10 s\), then live\.$/);
    const opened = await chartState(page, 'Memory');
    expect(await page.locator('figure.chart[data-chart="Memory"]').getAttribute('data-span')).toBe('3600');
    for (const title of ['CPU', 'Network', 'Load']) expect((await chartState(page, title)).history).toBeGreaterThanOrEqual(1);
    // Then it goes on live: the samples are appended after the past.
    await until('live memory points after the past', async () => (await chartState(page, 'Memory')).points >= opened.points + 2, 20_000, 200);
    const last = Number((await chartState(page, 'Memory')).last);
    expect(last).toBeGreaterThan(0);
    expect(last).toBeLessThanOrEqual(totalmem());

    // Day: the history is read again over 24 h (one point per 2 min), and not followed live.
    await page.getByRole('button', { name: 'Day', exact: true }).click();
    await expectText(page.locator('.history-note'), /^Day: \d+ stored points? \(one per 2 min\), read again every minute\.$/);
    expect(await page.locator('figure.chart[data-chart="Memory"]').getAttribute('data-span')).toBe('86400');
    expect(await page.getByRole('button', { name: 'Day', exact: true }).getAttribute('aria-pressed')).toBe('true');
    expect(await hour.getAttribute('aria-pressed')).toBe('false');
    await screenshot(page, 'dashboard-host-day');

    // Back to the hour from the keyboard: the picker's buttons are reached with Tab and pressed with Enter.
    await hour.focus();
    await page.keyboard.press('Enter');
    await expectText(page.locator('.history-note'), /^Hour: \d+ stored points/);
    await until('the hour again', async () => (await chartState(page, 'Memory')).history >= opened.history, 15_000, 200);
    await screenshot(page, 'dashboard-host-hour');
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

    const shot = await screenshot(page, 'dashboard');
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

    // A verify job and a restore drill started elsewhere show on the card live: the replica's verification and the policy's last drill.
    const [newest] = (await t.ok('query ($id: ID!) { replicas(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).replicas as Array<{ id: string }>;
    const verified = (await t.ok('mutation ($id: ID!) { verifyReplica(id: $id) { id } }', { id: newest!.id }, w.tokens.memberA)).verifyReplica;
    expect((await t.gateway.services.operations.settled(verified.id)).state).toBe('SUCCEEDED');
    await card.locator('[data-verify-state="OK"]').first().waitFor({ timeout: 15_000 });
    const drill = (await t.ok('mutation ($id: ID!) { drillReplicationPolicy(policyId: $id) { id } }', { id: policy }, w.tokens.memberA)).drillReplicationPolicy;
    expect((await t.gateway.services.operations.settled(drill.id)).state).toBe('SUCCEEDED');
    await until('the card to show the drill PASSED', async () => (await card.getAttribute('data-drill')) === 'PASSED', 15_000, 200);
    await expectText(card, /Restore drill\s*PASSED\s*(just now|\d+ s ago).*Next drill\s*not scheduled/);
    expect(await card.getAttribute('data-damaged')).toBe('0');

    // The navigation's Replication lists every policy the token may see.
    await nav(page, 'Replication').click();
    await page.waitForURL('**/replication');
    await expectText(page.locator('article[data-policy="nightly"]'), /OK\s*of web.*Replicas \(2\)/);
    expect(await page.locator('.error').count()).toBe(0);
    await screenshot(page, 'dashboard-replication');
  });

  test('an unknown host or environment id (its page, its replication page) shows one "No … with this id" statement, without charts or repeated NOT_FOUND', async () => {
    const unknown = '00000000-0000-4000-8000-00000000dead';
    for (const [path, what, back, list] of [['hosts', 'host', 'All hosts', 'hosts'], ['environments', 'environment', 'All environments', 'environments'], ['replication/environments', 'environment', 'All replication', 'replication']] as const) {
      await page.goto(`${t.gateway.url}/${path}/${unknown}`);
      await expectText(page.locator('main .not-found'), new RegExp(`No ${what} with this id.*${unknown}.*may not see it`));
      expect(await page.locator('main [role="alert"]').count()).toBe(1);
      expect(await page.locator('main .error').count()).toBe(0);
      expect(await page.locator('main figure.chart').count()).toBe(0);
      expect(await page.locator('main').textContent()).not.toMatch(/NOT_FOUND|Waiting for samples/);
      await page.getByRole('link', { name: `${back} →` }).click();
      await page.waitForURL(`**/${list}`);
    }
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
      await screenshot(page, 'dashboard-phone');
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
