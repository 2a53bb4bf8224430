import type { Page } from 'playwright-core';
import { createRootfsTar } from '../../drivers/fake';
import { browserTest, DashboardFixture, expectText, logIn, nav, openDashboard, overflowing, screenshot } from '../helpers/dashboard';
import { describeWithEngine } from '../helpers/engines';
import { TestGateway } from '../helpers/gateway';
import { World } from '../helpers/scenario';
import { until } from '../helpers/until';

const ENVIRONMENTS = 'query { environments(first: 100) { nodes { id name status hostId limits { memoryBytes } volumes { name mountPath readOnly } } } }';

/**
 * The dashboard as a workplace, in a real browser against an in-process gateway (fake driver):
 * upload an image with its progress bar, create an environment from it (placement chooses the
 * host) and watch it run, a shell in it through the terminal panel, a replication policy and a restore, deletes with their confirm step and
 * refusals with their codes, and a VIEWER token's create refused with FORBIDDEN.
 */
describeWithEngine('chromium', 'dashboard workplace in Chromium', () => {
  let fx: DashboardFixture;
  let t: TestGateway;
  let w: World;
  let page: Page;
  /** `test`, saving the page, its HTML and the browser's console log when it fails (the error names the folder). */
  const test = browserTest('dashboard-workplace', () => page);
  let pageErrors: string[];

  /** The environments group A's member sees, by name. */
  const environments = async () =>
    new Map(((await t.ok(ENVIRONMENTS, {}, w.tokens.memberA)).environments.nodes as Array<{ id: string; name: string; status: string; hostId: string; limits: { memoryBytes: number | null }; volumes: Array<{ name: string; mountPath: string; readOnly: boolean }> }>).map((e) => [e.name, e]));

  beforeAll(async () => {
    fx = await openDashboard();
    ({ t, w, page, pageErrors } = fx);
  }, 120_000);

  afterAll(() => fx?.close());

  test('upload an image: its progress bar fills and the image appears in the catalog with its digest', async () => {
    await logIn(page, t.gateway.url, w.tokens.memberA);
    await expectText(page.locator('header .viewer'), /ma · member/);
    await nav(page, 'Images').click();
    await expectText(page.locator('main'), /No images yet/);
    await page.getByText('Upload an image', { exact: true }).click();
    const upload = page.getByRole('form', { name: 'Upload an image' });
    await upload.getByLabel('Name').fill('tiny');
    await upload.getByLabel('Version').fill('1');
    await upload.getByLabel('Technology').fill('fake');
    // A file of a format no driver of the gateway takes (here the fake driver: rootfs-tar) is refused in the form, before anything is registered.
    await upload.getByLabel('Image file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('these are notes, not a root filesystem\n'.repeat(40)) });
    await upload.getByRole('button', { name: 'Upload' }).click();
    await expectText(upload.getByRole('alert'), /BAD_USER_INPUT notes\.txt is of no image format rsp knows \(no tar nor qcow2 header at its start\); the gateway's drivers take: rootfs-tar \(/);
    expect((await t.ok('{ images { name } }', {}, w.tokens.memberA)).images).toEqual([]);
    const tar = createRootfsTar({ '/etc/os-release': 'ID=tiny\nVERSION=1\n', '/srv/blob': 'x'.repeat(256 * 1024) });
    await upload.getByLabel('Image file').setInputFiles({ name: 'tiny.tar', mimeType: 'application/x-tar', buffer: tar });
    await upload.getByRole('button', { name: 'Upload' }).click();

    await expectText(upload.locator('.form-status'), /tiny:1 uploaded \(\d+(\.\d+)? KiB, sha256:/, 20_000);
    expect(await upload.locator('.upload-progress').getAttribute('data-sent')).toBe('100');
    expect(await upload.locator('.upload-progress [role="progressbar"]').getAttribute('aria-valuenow')).toBe('100');
    const row = page.locator('tr', { has: page.locator('[data-image="tiny:1"]') });
    await expectText(row, /tiny:1\s*fake\s*Alpha collective\s*\d+(\.\d+)? KiB\s*rootfs-tar\s*sha256:/);
    const { images } = await t.ok('{ images { name digest sizeBytes } }', {}, w.tokens.memberA);
    expect(images).toEqual([expect.objectContaining({ name: 'tiny', sizeBytes: tar.length, digest: expect.stringMatching(/^sha256:/) })]);
    await screenshot(page, 'workplace-image-uploaded');
  });

  test('create an environment from it (placement chooses the host), follow Create and Start in the dock until RUNNING', async () => {
    const row = page.locator('tr', { has: page.locator('[data-image="tiny:1"]') });
    await row.getByRole('link', { name: 'New environment' }).click();
    await page.waitForURL('**/environments/new?image=*');
    const create = page.getByRole('form', { name: 'New environment' });
    expect(await create.getByLabel('Image').inputValue()).toBe((await t.ok('{ images { id } }', {}, w.tokens.memberA)).images[0].id);
    expect(await create.getByLabel('Host').locator('option:checked').textContent()).toBe('Let placement choose');
    await create.getByLabel('Name', { exact: true }).fill('shop');
    await create.getByLabel('Memory limit (MiB)').fill('256');
    await create.getByLabel('Volumes').fill('data:/data\nconf:/etc/shop:ro');
    await create.getByLabel('Config values').fill('SITE=alpha\n# a comment\nMODE=test');
    expect(await create.getByLabel('Start once created').isChecked()).toBe(true);
    await create.getByRole('button', { name: 'Create' }).click();

    await expectText(create.locator('.form-status'), /Creating shop on (zaphod|trillian)/);
    await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Create shop' }).waitFor({ timeout: 60_000 });
    // The start follows once the create has succeeded (a refusal would show in the form); a
    // succeeded dock item goes away by itself after a while, so the end is read from the gateway.
    await page.locator('.dock-item', { hasText: 'Start shop' }).waitFor({ timeout: 60_000 });
    expect(await create.getByRole('alert').count()).toBe(0);
    await until('shop to run', async () => (await environments()).get('shop')?.status === 'RUNNING', 60_000, 250);
    const shop = (await environments()).get('shop')!;
    expect(shop).toMatchObject({ status: 'RUNNING', limits: { memoryBytes: 256 * 2 ** 20 } });
    expect([w.host1, w.host2]).toContain(shop.hostId);
    expect(shop.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'data', mountPath: '/data', readOnly: false }), expect.objectContaining({ name: 'conf', mountPath: '/etc/shop', readOnly: true })]));

    await create.locator('.form-status').getByRole('link', { name: 'shop' }).click();
    await page.waitForURL(`**/environments/${shop.id}`);
    await expectText(page.locator('main h1'), /shop\s*RUNNING/);
    await expectText(page.locator('.facts'), /Memory\s*256(\.0)? MiB.*Volumes\s*data \(data\) → \/data, conf \(data\) → \/etc\/shop ro/);
    await screenshot(page, 'workplace-environment-running');
  });

  test('a terminal on the running environment: a shell with a TTY echoes and runs what is typed, its exit code is shown; the console attaches and detaches', async () => {
    const terminal = page.locator('.terminal');
    expect(await terminal.getByLabel('Command to run').inputValue()).toBe('sh');
    await terminal.getByRole('button', { name: 'Open terminal in this environment' }).click();
    const rows = terminal.locator('.terminal-screen .xterm-rows');
    await rows.waitFor();
    await page.keyboard.type('echo hello from xterm');
    await page.keyboard.press('Enter');
    // The TTY echoes the line as typed, then the command's output follows on a line of its own.
    await expectText(rows, /echo hello from xterm\s*hello from xterm/);
    await expectText(terminal.locator('.terminal-status'), /Connected: sh\. Close ends it\./);
    await page.keyboard.type('exit 3');
    await page.keyboard.press('Enter');
    await expectText(terminal.locator('.terminal-status'), /The session ended with exit code 3\./);
    expect(await terminal.getByRole('button', { name: 'Open terminal in this environment' }).isEnabled()).toBe(true);
    await screenshot(page, 'workplace-terminal');

    // The console: attached, it echoes what is typed (the fake's console is its line shell); Close detaches.
    await terminal.getByLabel('Terminal mode').selectOption('console');
    expect(await terminal.getByLabel('Command to run').isDisabled()).toBe(true);
    await terminal.getByRole('button', { name: 'Open terminal in this environment' }).click();
    const consoleRows = terminal.locator('.terminal-screen .xterm-rows');
    await consoleRows.waitFor();
    await page.keyboard.type('echo on the console');
    await page.keyboard.press('Enter');
    await expectText(consoleRows, /echo on the console\s*on the console/);
    await expectText(terminal.locator('.terminal-status'), /Attached to the console\. Close detaches\./);
    await terminal.getByRole('button', { name: 'Close terminal' }).click();
    await expectText(terminal.locator('.terminal-status'), /Detached from the console\./);
  });

  test('a bad entry is refused in the form with BAD_USER_INPUT, and nothing is created', async () => {
    await page.goto(`${t.gateway.url}/environments/new`);
    const create = page.getByRole('form', { name: 'New environment' });
    await create.getByLabel('Name', { exact: true }).fill('broken');
    await create.getByLabel('Config values').fill('NOT A PAIR');
    await create.getByRole('button', { name: 'Create' }).click();
    await expectText(create.getByRole('alert'), /BAD_USER_INPUT Line 1 \("NOT A PAIR"\) is not KEY=value/);
    // Placement needs a limit to weigh the hosts.
    await create.getByLabel('Config values').fill('');
    await create.getByRole('button', { name: 'Create' }).click();
    await expectText(create.getByRole('alert'), /BAD_USER_INPUT Give a CPU, memory or disk limit/);
    expect((await environments()).has('broken')).toBe(false);
    // The browser applies the name's pattern (a DNS label); one it cannot compile would be ignored, with only a console message.
    const name = create.getByLabel('Name', { exact: true });
    await name.fill('Not_A-Label-');
    expect(await name.evaluate((el) => (el as HTMLInputElement).validity.patternMismatch)).toBe(true);
    await name.fill('web-2');
    expect(await name.evaluate((el) => (el as HTMLInputElement).validity.patternMismatch)).toBe(false);
  });

  test('create a replication policy in the Replication view, run it, and restore its replica as a new environment', async () => {
    await nav(page, 'Replication').click();
    await expectText(page.locator('main'), /No replication policies/);
    await page.getByText('New replication policy', { exact: true }).click();
    const policy = page.getByRole('form', { name: 'New replication policy' });
    await policy.getByLabel('Environment').selectOption({ label: 'shop' });
    await policy.getByLabel('Name').fill('hourly');
    await policy.getByLabel('Target').selectOption({ label: 'host trillian' });
    await policy.getByLabel('Schedule').fill('0 * * * *');
    await policy.getByLabel('Replicas kept').fill('2');
    await policy.getByRole('button', { name: 'Create policy' }).click();
    await expectText(policy.locator('.form-status'), /Policy hourly created/);

    const card = page.locator('article[data-policy="hourly"]');
    await expectText(card, /hourly\s*PENDING\s*of shop.*Target\s*host trillian.*Keeps\s*2 replicas/);
    await card.getByRole('button', { name: 'Replicate hourly now', exact: true }).click();
    await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Replicate hourly' }).waitFor({ timeout: 60_000 });
    await until('the card to show its replica', async () => (await card.getAttribute('data-replicas')) === '1', 15_000, 200);

    await card.getByText('Restore…', { exact: true }).click();
    const restore = card.getByRole('form', { name: 'Restore replica of shop' });
    expect(await restore.getByLabel('Name').inputValue()).toBe('shop-restored');
    await restore.getByLabel('Host').selectOption({ label: 'trillian' });
    await restore.getByRole('button', { name: 'Restore' }).click();
    await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Restore shop' }).waitFor({ timeout: 60_000 });
    const restored = (await environments()).get('shop-restored');
    expect(restored).toMatchObject({ hostId: w.host2, status: 'STOPPED' });
    await screenshot(page, 'workplace-replication');
  });

  test('delete: an image in use is refused with CONFLICT; environments are deleted after their confirm step, then the image', async () => {
    await nav(page, 'Images').click();
    const row = page.locator('tr', { has: page.locator('[data-image="tiny:1"]') });
    await row.getByRole('button', { name: 'Delete image tiny:1' }).click();
    await row.getByRole('button', { name: 'Cancel' }).click();
    await row.getByRole('button', { name: 'Delete image tiny:1' }).click();
    await row.getByRole('button', { name: 'Yes, delete image tiny:1' }).click();
    await expectText(row.getByRole('alert'), /CONFLICT .*tiny/);

    // An open confirm step survives the list's live reload (another environment's event).
    await nav(page, 'Environments').click();
    await page.getByRole('button', { name: 'Delete shop', exact: true }).click();
    await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: (await environments()).get('shop-restored')!.id }, w.tokens.memberA);
    await expectText(page.locator('tr', { has: page.getByRole('link', { name: 'shop-restored', exact: true }) }), /shop-restored\s*RUNNING/, 30_000);
    expect(await page.getByRole('button', { name: 'Yes, delete shop', exact: true }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Cancel' }).click();

    for (const name of ['shop-restored', 'shop']) {
      const env = (await environments()).get(name)!;
      await page.goto(`${t.gateway.url}/environments/${env.id}`);
      await page.getByRole('button', { name: `Delete ${name}`, exact: true }).click();
      await expectText(page.locator('.confirm-question'), new RegExp(`Delete ${name}\\? It is stopped and removed with its volumes`));
      await page.getByRole('button', { name: `Yes, delete ${name}`, exact: true }).click();
      await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: `Delete ${name}` }).waitFor({ timeout: 60_000 });
    }
    await screenshot(page, 'workplace-deleted');
    expect([...(await environments()).keys()]).toEqual([]);

    await nav(page, 'Images').click();
    await row.getByRole('button', { name: 'Delete image tiny:1' }).click();
    await row.getByRole('button', { name: 'Yes, delete image tiny:1' }).click();
    await expectText(page.locator('main'), /No images yet/);
    expect((await t.ok('{ images { id } }', {}, w.tokens.memberA)).images).toEqual([]);
  });

  test('on a phone-sized screen the forms do not overflow sideways', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/images', '/environments/new', '/replication']) {
        await page.goto(`${t.gateway.url}${path}`);
        await page.locator('main h1').first().waitFor();
        for (const summary of await page.locator('details.disclosure > summary').all()) await summary.click();
        await page.waitForLoadState('networkidle');
        expect({ path, wider: await overflowing(page) }).toEqual({ path, wider: [] });
      }
      await screenshot(page, 'workplace-phone');
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });

  test('a VIEWER token may open the forms, and the gateway refuses its create with FORBIDDEN, shown in the form', async () => {
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'app', version: '2', technology: 'fake' } }, w.tokens.memberA)).registerImage.id as string;
    expect((await t.upload(image, createRootfsTar({ '/etc/os-release': 'ID=app\n' }), w.tokens.memberA)).status).toBe(200);
    await page.getByRole('button', { name: 'Log out' }).click();
    await logIn(page, t.gateway.url, w.tokens.viewerA);
    await expectText(page.locator('header .viewer'), /va · viewer/);
    await page.goto(`${t.gateway.url}/environments/new?image=${image}`);
    const create = page.getByRole('form', { name: 'New environment' });
    await create.getByLabel('Name', { exact: true }).fill('sneaky');
    await create.getByLabel('Host').selectOption({ index: 1 });
    await create.getByRole('button', { name: 'Create' }).click();
    await expectText(create.getByRole('alert'), /FORBIDDEN/);
    await screenshot(page, 'workplace-viewer-forbidden');
    expect((await environments()).has('sneaky')).toBe(false);
    expect(pageErrors).toEqual([]);
  });
});
