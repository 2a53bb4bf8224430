import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RspProcess, runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway } from '../helpers/gateway';
import { machineState } from '../helpers/machine-state';

const ENV = { RSP_DRIVERS: 'fake', DATABASE_URL: '', REDIS_URL: undefined, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', RSP_SITE_NAME: '', RSP_LOCAL_HOST: '', RSP_BOOTSTRAP: '' };

/**
 * `rsp serve` on an empty data directory sets this machine up by default (the default path, as a
 * newcomer's `npm start`), and `rsp init --yes` on another empty one gives the same groups, site,
 * host, resources and image; `rsp init` again changes nothing.
 */
describe('first start: rsp serve and rsp init --yes', () => {
  let served: TestDatabase;
  let inited: TestDatabase;
  let server: RspProcess | undefined;
  let dir: string;

  beforeAll(async () => {
    served = await createTestDatabase('pglite');
    inited = await createTestDatabase('pglite');
    dir = mkdtempSync(join(tmpdir(), 'rsp-init-'));
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await served.drop();
    await inited.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('both paths give the same state, and say what is usable', async () => {
    server = spawnRsp(['serve', '--port', '0', '--data-dir', served.dataDir], ENV, dir);
    await server.waitFor(/GraphQL endpoint:\s+(http:\/\/\S+)\/graphql/, 120_000);
    const servedToken = (await server.waitFor(/shown ONCE[^\n]*\n\s+(rsp_\S+)/))[1]!;
    await server.waitFor(/First start: image busybox:\S+ ready|First start: no busybox image/, 120_000);
    const out = server.output().stdout;
    expect(out).toMatch(new RegExp(`site\\s+${hostname()} \\(`));
    expect(out).toMatch(new RegExp(`host\\s+${hostname()} \\(\\S+\\), agent local, technologies: fake`));
    expect(out).toMatch(/Usable drivers: fake/);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    server = undefined;

    const init = await runRsp(['init', '--yes', '--data-dir', inited.dataDir], ENV, dir);
    expect(init.code).toBe(0);
    const initToken = /shown ONCE[^\n]*\n\s+(rsp_\S+)/.exec(init.stdout)![1]!;
    expect(init.stdout).toMatch(/First start: image busybox:\S+ ready|First start: no busybox image/);
    const again = await runRsp(['init', '--yes', '--data-dir', inited.dataDir], ENV, dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Nothing to do: this machine was set up already/);
    expect(again.stdout).not.toMatch(/rsp_/);
    // Asked without --yes, it says so before asking for any name.
    const asking = spawnRsp(['init', '--data-dir', inited.dataDir], ENV, dir);
    asking.child.stdin.end();
    const asked = await asking.exited;
    expect(asked).toMatchObject({ code: 0, stdout: expect.stringMatching(/Nothing to do: this machine was set up already/) });
    expect(asked.stderr).not.toMatch(/Site name/);

    const a = await startTestGateway(served, { RSP_BOOTSTRAP: 'off' });
    const b = await startTestGateway(inited, { RSP_BOOTSTRAP: 'off' });
    try {
      const [sa, sb] = [await machineState(a, servedToken), await machineState(b, initToken)];
      expect(sa.hosts).toHaveLength(1);
      expect(sa.hosts[0]!.resources.map((r) => r.type)).toEqual(expect.arrayContaining(['CPU', 'DISK', 'RAM']));
      // Ids differ, and a host is UP from its agent's next beat; everything else is the same.
      const withoutIds = (s: typeof sa) => ({ ...s, groups: s.groups.map(({ id: _id, ...g }) => g), hosts: s.hosts.map(({ state: _state, ...h }) => h) });
      expect(withoutIds(sb)).toEqual(withoutIds(sa));
    } finally {
      await a.close();
      await b.close();
    }
  }, 600_000);
});
