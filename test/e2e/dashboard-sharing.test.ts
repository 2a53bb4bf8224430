import { join } from 'node:path';
import { Page } from 'playwright-core';
import { browserTest, DashboardFixture, expectText, logIn, nav, openDashboard, overflowing, screenshot, seriousViolations } from '../helpers/dashboard';
import { describeWithEngine } from '../helpers/engines';
import { TestGateway } from '../helpers/gateway';
import { UNCONNECTED_AGENT, World } from '../helpers/scenario';

/**
 * The dashboard as a workplace for sharing, in Chromium against an in-process gateway: a member
 * requests an allocation after viewing the dry run's candidates, the owner group's admin approves
 * it, grants a share and revokes it, drains and retires a host; a member without rights sees the
 * API's error code. Every action goes through the dashboard's forms; the API confirms the result.
 */
describeWithEngine('chromium', 'dashboard: allocations, shares, offers and needs, host retirement', () => {
  let fx: DashboardFixture;
  let t: TestGateway;
  let w: World;
  let page: Page;
  /** `test`, saving the page, its HTML and the browser's console log when it fails (the error names the folder). */
  const test = browserTest('dashboard-sharing', () => page);
  let pageErrors: string[];

  /** Logs out (the stored token is forgotten), then logs in with `token`. */
  async function login(token: string): Promise<void> {
    await page.goto(t.gateway.url);
    await page.evaluate(() => localStorage.removeItem('rsp.token'));
    await logIn(page, t.gateway.url, token);
  }

  /** Saves a screenshot of this suite as an artifact. */
  const shot = (name: string) => screenshot(page, `dashboard-sharing-${name}`);

  /** Checks the page as it is now (forms, rankings, errors shown) with axe-core: no serious or critical violation. */
  async function accessible(where: string): Promise<void> {
    expect((await seriousViolations(page)).map((v) => `${where}: ${v.id} (${v.impact}): ${v.help} — ${v.targets.join(', ')}`)).toEqual([]);
  }

  beforeAll(async () => {
    fx = await openDashboard();
    ({ t, w, page, pageErrors } = fx);
  }, 120_000);

  afterAll(() => fx?.close());

  test('a member views the ranked candidates and their reasons, then requests an allocation for approval', async () => {
    await login(w.tokens.memberA);
    await nav(page, 'Allocations').click();
    await page.waitForURL('**/allocations');
    const form = page.getByRole('form', { name: 'Request an allocation' });
    await form.getByLabel('Placement').selectOption('APPROVAL');
    await form.getByLabel('CPU (cores)').fill('1');
    await form.getByLabel('Memory (GiB)').fill('2');
    // Submitting is only offered once the dry run matches what the form asks.
    expect(await form.getByRole('button', { name: 'Request allocation' }).isDisabled()).toBe(true);
    await form.getByRole('button', { name: 'Show candidates' }).click();

    const ranking = form.locator('.candidates');
    await ranking.waitFor();
    const dry = (await t.ok('query ($r: AllocationRequestInput!) { placementCandidates(request: $r) { candidates { hostname technology } rejected { hostname filter } } }', { r: { groupId: w.groupA, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }, { type: 'RAM', amount: 2 * 2 ** 30, unit: 'BYTES' }] } }, w.tokens.memberA)).placementCandidates;
    expect(dry.candidates.length).toBeGreaterThan(0);
    expect(await ranking.getAttribute('data-candidates')).toBe(String(dry.candidates.length));
    expect(await ranking.getAttribute('data-rejected')).toBe(String(dry.rejected.length));
    const best = dry.candidates[0] as { hostname: string; technology: string };
    await expectText(ranking.locator('tbody tr').first(), new RegExp(`^1\\s*${best.hostname}\\s*${best.technology}\\s*[\\d.]+\\s*runs ${best.technology} \\(preference \\d+\\), fit [\\d.]+ under the site policy`));
    await shot('candidates');
    await accessible('candidates');

    // Changing the form makes the ranking stale until it is shown again.
    await form.getByLabel('Memory (GiB)').fill('3');
    expect(await form.getByRole('button', { name: 'Request allocation' }).isDisabled()).toBe(true);
    await form.getByLabel('Memory (GiB)').fill('2');
    expect(await form.getByRole('button', { name: 'Request allocation' }).isEnabled()).toBe(true);

    await form.getByLabel(`Ask for ${best.hostname}`).check();
    await form.getByRole('button', { name: 'Request allocation' }).click();
    const notice = form.locator('.notice[data-status="PENDING"]');
    await notice.waitFor();
    await expectText(notice, /PENDING Request recorded: it waits for the owners to decide\./);
    const id = await notice.getAttribute('data-request');
    const asked = (await t.ok('query ($id: ID!) { allocationRequest(id: $id) { status mode groupId spec { hostIds resources { type amount } } } }', { id }, w.tokens.memberA)).allocationRequest;
    const hostId = best.hostname === 'zaphod' ? w.host1 : w.host2;
    expect(asked).toEqual({ status: 'PENDING', mode: 'APPROVAL', groupId: w.groupA, spec: { hostIds: [hostId], resources: [{ type: 'CPU', amount: 1 }, { type: 'RAM', amount: 2 * 2 ** 30 }] } });
    await expectText(page.locator('.panel', { hasText: 'Your group’s requests' }), /approval\s*PENDING\s*1 cores CPU, 2\.00 GiB RAM/);
    // A member decides nothing: nothing waits for it.
    await expectText(page.locator('.panel', { hasText: 'Waiting for your decision' }), /Waiting for your decision \(0\)/);
  });

  test("the owner group's admin approves it; it is placed on the host asked for", async () => {
    await login(w.tokens.adminA);
    await nav(page, 'Allocations').click();
    const card = page.locator('.decisions article').first();
    await expectText(card, /Alpha collective\s*PENDING\s*asked by ma.*Asks\s*1 cores CPU, 2\.00 GiB RAM/);
    await shot('approval');
    await accessible('approval');
    const id = await card.getAttribute('data-request');
    await card.getByLabel('Reason').fill('welcome');
    await card.getByRole('button', { name: /^Approve request of Alpha collective/ }).click();
    await expectText(page.locator('.panel', { hasText: 'Waiting for your decision' }), /Waiting for your decision \(0\)/);
    const placed = (await t.ok('query ($id: ID!) { allocationRequest(id: $id) { status reason spec { hostIds } allocations { hostId status } } }', { id }, w.tokens.adminA)).allocationRequest;
    expect(placed.status).toBe('PLACED');
    expect(placed.reason).toBe('welcome');
    expect(placed.allocations).toEqual([{ hostId: placed.spec.hostIds[0], status: 'ACTIVE' }]);
    await expectText(page.locator('.panel', { hasText: 'Your group’s requests' }), /approval\s*PLACED\s*1 cores CPU, 2\.00 GiB RAM\s*(zaphod|trillian)\s*aa: welcome/);
  });

  test('the admin grants a share of a host to another group and revokes it', async () => {
    await nav(page, 'Sharing').click();
    await page.waitForURL('**/sharing');
    const grant = page.getByRole('form', { name: 'Grant a share' });
    await grant.getByLabel('Host').selectOption({ label: 'trillian' });
    await grant.getByLabel('To group').selectOption({ label: 'Beta co-op' });
    await grant.getByLabel('Kind').selectOption('HALF');
    await grant.getByRole('button', { name: 'Grant share' }).click();
    const revoke = page.getByRole('button', { name: 'Revoke share of Beta co-op on trillian' });
    await revoke.waitFor();
    const shares = async () => (await t.ok('query ($g: ID) { shares(groupId: $g) { hostId kind } }', { g: w.groupB })).shares;
    expect(await shares()).toEqual([{ hostId: w.host2, kind: 'HALF' }]);
    await expectText(page.locator('.panel', { hasText: 'Shares' }).locator('tr', { hasText: 'Beta co-op' }), /trillian\s*Beta co-op\s*half/);
    await shot('share-granted');
    await accessible('share-granted');

    await revoke.click();
    await revoke.waitFor({ state: 'detached' });
    expect(await shares()).toEqual([]);
  });

  test('a member without rights gets the API error code shown, and nothing changes', async () => {
    await login(w.tokens.memberB);
    await nav(page, 'Sharing').click();
    const grant = page.getByRole('form', { name: 'Grant a share' });
    await grant.getByLabel('Host').selectOption({ label: 'zaphod' });
    await grant.getByLabel('To group').selectOption({ label: 'Beta co-op' });
    await grant.getByRole('button', { name: 'Grant share' }).click();
    await expectText(grant.getByRole('alert'), /^FORBIDDEN /);
    expect((await t.ok('query ($g: ID) { shares(groupId: $g) { id } }', { g: w.groupB })).shares).toEqual([]);
    await shot('forbidden');
    await accessible('forbidden');
  });

  test('offers and needs: a group publishes a need, another publishes an offer, the need is covered by accepting it', async () => {
    // Beta (memberB is logged in) needs 1 GiB of RAM.
    const needForm = page.getByRole('form', { name: 'Publish a need' });
    await needForm.getByLabel('Resource').selectOption('RAM');
    await needForm.getByLabel('Amount').fill('1');
    await needForm.getByLabel('Why').fill('a wiki');
    await needForm.getByRole('button', { name: 'Publish need' }).click();
    await expectText(page.locator('.panel', { hasText: 'Needs' }).locator('tr', { hasText: 'a wiki' }), /Beta co-op\s*RAM\s*1\.00 GiB/);

    // Alpha's admin offers 4 GiB of zaphod's RAM and accepts it for Beta's need.
    await login(w.tokens.adminA);
    await nav(page, 'Sharing').click();
    const offerForm = page.getByRole('form', { name: 'Publish an offer' });
    await offerForm.getByLabel('On host').selectOption({ label: 'zaphod' });
    await offerForm.getByLabel('Resource').selectOption('RAM');
    await offerForm.getByLabel('Amount').fill('4');
    await offerForm.getByLabel('Terms').fill('best effort');
    await offerForm.getByRole('button', { name: 'Publish offer' }).click();
    await expectText(page.locator('.panel', { hasText: 'Offers' }).locator('tr', { hasText: 'best effort' }), /Alpha collective\s*zaphod\s*RAM\s*4\.00 GiB/);
    const [need] = (await t.ok('query ($g: ID) { needs(groupId: $g, status: OPEN) { id } }', { g: w.groupB })).needs as Array<{ id: string }>;

    await login(w.tokens.memberB);
    await nav(page, 'Sharing').click();
    const offer = page.locator('.panel', { hasText: 'Offers' }).locator('tr', { hasText: 'best effort' });
    await offer.getByLabel(/^Need covered by Alpha collective’s RAM offer/).selectOption(need!.id);
    await offer.getByRole('button', { name: /^Accept Alpha collective’s RAM offer/ }).click();
    // memberB is no ADMIN of Beta: the API refuses, the dashboard says why.
    await expectText(page.locator('.panel', { hasText: 'Offers' }).getByRole('alert'), /^FORBIDDEN /);
    expect((await t.ok('{ needs(status: OPEN) { id } }')).needs.map((n: { id: string }) => n.id)).toContain(need!.id);
    const betaAdmin = (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { secret } }', { i: { groupId: w.groupB, role: 'ADMIN', name: 'ab' } })).createToken.secret as string;
    await login(betaAdmin);
    await nav(page, 'Sharing').click();
    const row = page.locator('.panel', { hasText: 'Offers' }).locator('tr', { hasText: 'best effort' });
    await row.getByLabel(/^Need covered by/).selectOption(need!.id);
    await row.getByRole('button', { name: /^Accept Alpha collective’s RAM offer/ }).click();
    await expectText(page.locator('.panel', { hasText: 'Offers' }).locator('tr', { hasText: 'best effort' }), /RAM\s*3\.00 GiB of 4\.00 GiB/);
    await expectText(page.locator('.panel', { hasText: 'Needs' }), /No open needs/);
    expect((await t.ok('query ($g: ID) { shares(groupId: $g) { hostId } }', { g: w.groupB })).shares).toEqual([{ hostId: w.host1 }]);
    await shot('exchange');
    await accessible('exchange');
  });

  test("a host is drained (its operation in the dock) and retired from its page by the owner group's admin", async () => {
    const spare = (await t.ok('mutation ($i: CreateHostInput!) { createHost(input: $i) { id } }', { i: { siteId: w.site, ownerGroupId: w.groupA, hostname: 'marvin', drivers: ['lxc'], agent: UNCONNECTED_AGENT, shareUnits: 1 } })).createHost.id as string;
    // A member of the owner group may not: the code is shown.
    await login(w.tokens.memberA);
    await page.goto(`${t.gateway.url}/hosts/${spare}`);
    await page.getByRole('button', { name: 'Drain marvin' }).click();
    await expectText(page.locator('.host-actions').getByRole('alert'), /^FORBIDDEN /);

    await login(w.tokens.adminA);
    await page.goto(`${t.gateway.url}/hosts/${spare}`);
    await page.getByRole('button', { name: 'Drain marvin' }).click();
    const item = page.locator('.dock-item', { hasText: 'Drain marvin' }).first();
    await item.waitFor();
    await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Drain marvin' }).waitFor({ timeout: 20_000 });
    await expectText(item, /SUCCEEDED\s*host\.drain\s*100 %/);
    await shot('drained');

    await page.getByRole('button', { name: 'Retire marvin' }).click();
    await accessible('retire confirmation');
    await page.getByRole('button', { name: 'Yes, retire marvin' }).click();
    await expectText(page.locator('main h1'), /marvin is retired/);
    expect((await t.gql('query ($id: ID!) { host(id: $id) { id } }', { id: spare })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  test('every new page fits a phone-sized screen, and no page error was thrown', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/allocations', '/sharing', `/hosts/${w.host1}`]) {
        await page.goto(`${t.gateway.url}${path}`);
        await page.locator('main h1').first().waitFor();
        await page.waitForLoadState('networkidle');
        const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
        expect({ path, wide: scroll > width ? await overflowing(page) : [] }).toEqual({ path, wide: [] });
      }
      await shot('phone');
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
    expect(pageErrors).toEqual([]);
  });
});
