import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { RspProcess, runRsp, spawnRsp } from '../helpers/cli';
import { browserTest, expectText, launchChromium, logIn, nav, screenshot } from '../helpers/dashboard';
import { describeWithEngine } from '../helpers/engines';
import { until } from '../helpers/until';

/**
 * The newcomer's default start: PGlite in the data directory, the drivers probed, this machine
 * set up. Nothing of the test run's own settings leaks in.
 */
const ENV = { DATABASE_URL: '', REDIS_URL: undefined, RSP_DRIVERS: undefined, RSP_BOOTSTRAP: undefined, RSP_SITE_NAME: undefined, RSP_LOCAL_HOST: undefined, RSP_AGENTS: undefined, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' };

/**
 * Issue 26's first run, as a newcomer does it, in Chromium against the built `rsp serve` on a
 * fresh data directory: the first start sets this machine up → the dashboard shows it as a host
 * with its probed drivers → upload an image → create, start and watch an environment (Docker) →
 * another group views the candidates (none: it has no share here, and the ranking says so) → the
 * owners grant it a share → it views them again and requests an allocation → the owners approve
 * it with their token → delete the environment. Every step goes through the
 * dashboard's forms; GraphQL only reads, to check. Screenshots go to test-artifacts/.
 */
describeWithEngine('docker', 'first run: from a fresh data directory to a workplace', () => {
  describeWithEngine('chromium', 'in Chromium', () => {
    let dataDir: string;
    let profile: string;
    let server: RspProcess | undefined;
    let browser: BrowserContext | undefined;
    let page: Page;
    /** `test`, saving the page, its HTML and the browser's console log when it fails (the error names the folder). */
    const test = browserTest('first-run', () => page);
    let url: string;
    let token: string;
    const pageErrors: string[] = [];

    /** Reads through GraphQL as `as` (the site admin by default): only to check what the dashboard did. */
    async function read<T = any>(query: string, variables: Record<string, unknown> = {}, as = token): Promise<T> {
      const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${as}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
      return body.data!;
    }
    /** The environments the site admin sees, by name (destroyed ones left out). */
    const environments = async () => new Map(((await read('{ environments(first: 100) { nodes { id name status } } }')).environments.nodes as Array<{ id: string; name: string; status: string }>).filter((e) => e.status !== 'DESTROYED').map((e) => [e.name, e]));
    /** Logs out (the stored token is forgotten), then in with `as`. */
    async function login(as: string): Promise<void> {
      await page.evaluate(() => localStorage.removeItem('rsp.token'));
      await logIn(page, url, as);
    }
    const shot = (name: string) => screenshot(page, `first-run-${name}`);

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'rsp-first-run-'));
      profile = mkdtempSync(join(tmpdir(), 'rsp-chromium-'));
      server = spawnRsp(['serve', '--port', '0', '--data-dir', dataDir], ENV, dataDir);
      url = new URL((await server.waitFor(/GraphQL endpoint:\s+(\S+)/, 180_000))[1]!).origin;
      token = (await server.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
      browser = await launchChromium(profile);
      page = browser.pages()[0] ?? (await browser.newPage());
      page.on('pageerror', (e) => pageErrors.push(e.message));
    }, 240_000);

    afterAll(async () => {
      // A run cut short leaves no container behind.
      if (server && server.child.exitCode === null) {
        const left = [...(await environments().catch(() => new Map<string, { id: string }>())).values()];
        for (const env of left) await read('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env.id }).catch(() => undefined);
        if (left.length) await until('the leftover environments to be destroyed', async () => (await environments()).size === 0, 60_000, 500).catch(() => undefined);
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await browser?.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }, 120_000);

    test('first start → this machine as a host → upload → environment → candidates → share → allocation approved → delete', async () => {
      // The first start said what it set up; the dashboard shows this machine with the probed drivers.
      await server!.waitFor(/First start: image busybox:\S+ ready|First start: no busybox image/, 120_000);
      const { hosts } = await read('{ hosts { nodes { id hostname drivers state } } }');
      expect(hosts.nodes).toHaveLength(1);
      const host = hosts.nodes[0] as { id: string; hostname: string; drivers: string[]; state: string };
      expect(host.hostname).toBe(hostname());
      expect(host.drivers).toContain('docker');
      await logIn(page, url, token);
      await nav(page, 'Hosts').click();
      const row = page.locator('tr', { has: page.getByRole('link', { name: host.hostname, exact: true }) });
      await expectText(row, new RegExp(`^${host.hostname}\\s*UP\\s*${host.hostname}\\s*admin\\s*connected\\s*${host.drivers.join('\\s*')}\\s*\\d`), 60_000);
      await shot('host');

      // Upload an image (a busybox root filesystem, for Docker) with the Images page's form.
      await nav(page, 'Images').click();
      await page.locator('[data-image^="busybox:"]').first().waitFor();
      await page.getByText('Upload an image', { exact: true }).click();
      const upload = page.getByRole('form', { name: 'Upload an image' });
      await upload.getByLabel('Name').fill('tiny');
      await upload.getByLabel('Version').fill('1');
      await upload.getByLabel('Technology').fill('docker');
      const tar = readFileSync(await buildBusyboxRootfs());
      await upload.getByLabel('Image file').setInputFiles({ name: 'tiny.tar', mimeType: 'application/x-tar', buffer: tar });
      await upload.getByRole('button', { name: 'Upload' }).click();
      await expectText(upload.locator('.form-status'), /tiny:1 uploaded \(.*, sha256:/, 30_000);
      await shot('image-uploaded');

      // Create it from that image, started once created; watch it run.
      const newEnvironment = page.locator('tr', { has: page.locator('[data-image="tiny:1"]') }).getByRole('link', { name: 'New environment' });
      const href = (await newEnvironment.getAttribute('href'))!;
      await newEnvironment.click();
      // The form's address first, then its field: a failure says whether the click navigated (the page is saved either way).
      await page.waitForURL((u) => u.pathname + u.search === href);
      const create = page.getByRole('form', { name: 'New environment' });
      await create.getByLabel('Name', { exact: true }).fill('web');
      await create.getByLabel('Memory limit (MiB)').fill('64');
      await create.getByRole('button', { name: 'Create' }).click();
      await expectText(create.locator('.form-status'), new RegExp(`Creating web on ${host.hostname}`), 30_000);
      await until('web to run', async () => (await environments()).get('web')?.status === 'RUNNING', 90_000, 250);
      expect(await create.getByRole('alert').count()).toBe(0);
      const web = (await environments()).get('web')!;
      await create.locator('.form-status').getByRole('link', { name: 'web' }).click();
      await page.waitForURL(`**/environments/${web.id}`);
      await expectText(page.locator('main h1'), /web\s*RUNNING/, 30_000);
      await expectText(page.locator('.live-note'), /Live: [1-9]\d* samples?/, 60_000);
      await shot('environment-running');

      // Set-up the dashboard has no form for (groups and tokens are made with the CLI): a second group and its admin's token.
      const cli = { RSP_URL: url, RSP_TOKEN: token };
      const made = await runRsp(['group', 'create', 'beta', 'Beta co-op', '--json'], cli);
      expect(made.code).toBe(0);
      const beta = (JSON.parse(made.stdout) as { id: string }).id;
      const minted = await runRsp(['token', 'create', 'bob', '--group', beta, '--role', 'ADMIN', '--json'], cli);
      expect(minted.code).toBe(0);
      const bob = (JSON.parse(minted.stdout) as { secret: string }).secret;

      // Beta views the candidates for what it would ask: this machine is rejected, and the dashboard says why.
      await login(bob);
      const ask = page.getByRole('form', { name: 'Request an allocation' });
      const candidates = async () => {
        await nav(page, 'Allocations').click();
        await ask.getByLabel('Placement').selectOption('APPROVAL');
        await ask.getByLabel('CPU (cores)').fill('1');
        await ask.getByLabel('Memory (GiB)').fill('1');
        await ask.getByRole('button', { name: 'Show candidates' }).click();
      };
      await candidates();
      await expectText(ask.locator('.candidates'), new RegExp(`Candidates \\(0\\).*Rejected \\(1\\).*${host.hostname}\\s*QUOTA\\s*the group has no share on this host`));
      await shot('candidates-without-share');

      // The owners (the admin group, with the first start's token) grant Beta a share of this machine.
      await login(token);
      await nav(page, 'Sharing').click();
      const grant = page.getByRole('form', { name: 'Grant a share' });
      await grant.getByLabel('Host').selectOption({ label: host.hostname });
      await grant.getByLabel('To group').selectOption({ label: 'Beta co-op' });
      await grant.getByLabel('Kind').selectOption('HALF');
      await grant.getByRole('button', { name: 'Grant share' }).click();
      await page.getByRole('button', { name: `Revoke share of Beta co-op on ${host.hostname}` }).waitFor();
      expect((await read('query ($g: ID) { shares(groupId: $g) { hostId kind } }', { g: beta })).shares).toEqual([{ hostId: host.id, kind: 'HALF' }]);
      await shot('share-granted');

      // Beta views the candidates again, asks for this machine, and the request waits for the owners.
      await login(bob);
      await candidates();
      await expectText(ask.locator('.candidates tbody tr').first(), new RegExp(`^1\\s*${host.hostname}\\s*\\S+\\s*[\\d.]+\\s*runs `));
      await ask.getByLabel(`Ask for ${host.hostname}`).check();
      await ask.getByRole('button', { name: 'Request allocation' }).click();
      const notice = ask.locator('.notice[data-status="PENDING"]');
      await notice.waitFor();
      const requestId = (await notice.getAttribute('data-request'))!;
      await shot('allocation-requested');

      // The owners approve it with their token: it is placed on this machine.
      await login(token);
      await nav(page, 'Allocations').click();
      const card = page.locator(`.decisions article[data-request="${requestId}"]`);
      await expectText(card, /Beta co-op\s*PENDING\s*asked by bob/);
      await card.getByLabel('Reason').fill('welcome');
      await card.getByRole('button', { name: /^Approve request of Beta co-op/ }).click();
      await card.waitFor({ state: 'detached' });
      const placed = (await read('query ($id: ID!) { allocationRequest(id: $id) { status allocations { hostId status } } }', { id: requestId })).allocationRequest;
      expect(placed).toEqual({ status: 'PLACED', allocations: [{ hostId: host.id, status: 'ACTIVE' }] });
      await shot('allocation-approved');

      // Delete the environment from its page, after the confirm step.
      await page.goto(`${url}/environments/${web.id}`);
      await expectText(page.locator('main h1'), /web\s*RUNNING/);
      await page.getByRole('button', { name: 'Delete web', exact: true }).click();
      await page.getByRole('button', { name: 'Yes, delete web', exact: true }).click();
      await page.locator('.dock-item[data-state="SUCCEEDED"]', { hasText: 'Delete web' }).waitFor({ timeout: 60_000 });
      expect((await environments()).has('web')).toBe(false);
      await shot('environment-deleted');
      expect(pageErrors).toEqual([]);
    }, 300_000);
  });
});
