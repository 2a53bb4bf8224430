import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { ROOT } from '../helpers/cli';
import { readmeSection, walkthroughSteps } from '../helpers/readme';
import { buildBusyboxRootfs } from '../fixtures/busybox-rootfs';
import { buildWorld } from '../helpers/scenario';

const run = promisify(execFile);
const SECTION = 'Writing a driver plugin';

/** The fenced blocks of one language in the README section. */
function blocks(language: string): string[] {
  return [...readmeSection(SECTION).matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** True when every non-empty line of `snippet` appears in `file`, in order (indentation aside). */
function appearsIn(snippet: string, file: string): boolean {
  const text = readFileSync(join(ROOT, file), 'utf8').split('\n').map((l) => l.trim());
  let at = 0;
  for (const line of snippet.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const found = text.indexOf(line, at);
    if (found < 0) return false;
    at = found + 1;
  }
  return true;
}

/** The `KEY=value` settings a README shell line starts with. */
function settings(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(?:^|\s)([A-Z_]+)='?([^'\s]+)'?/g)) out[m[1]!] = m[2]!;
  return out;
}

/** The README's "Writing a driver plugin", followed as a plugin author would: build, load, query, run a guest. */
describeWithEngine('uml', 'the README\'s "Writing a driver plugin" walkthrough (UML plugin)', () => {
  let db: TestDatabase;
  let t: TestGateway;
  const steps = walkthroughSteps(SECTION);
  const section = readmeSection(SECTION);

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
  });
  afterAll(async () => {
    await t?.close();
    await db.drop();
  });

  test('the package and code it shows are the plugin\'s own', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'plugins', 'uml', 'package.json'), 'utf8')) as { name: string; main: string; dependencies: Record<string, string> };
    expect(section).toContain(manifest.name);
    expect(section).toContain(`"@rsp/sdk": "${manifest.dependencies['@rsp/sdk']}"`);
    expect(Object.keys(manifest.dependencies)).toEqual(['@rsp/sdk']);
    const [entry, conformance] = blocks('ts');
    expect(appearsIn(entry!, 'plugins/uml/src/index.ts')).toBe(true);
    expect(appearsIn(conformance!, 'test/integration/uml-plugin.test.ts')).toBe(true);
  });

  test('build, load with RSP_PLUGINS, and the query lists the driver as the README says', async () => {
    const build = steps.find((s) => s.line === 'npm run build:packages');
    expect(build).toBeDefined();
    await run('npm', ['run', 'build:packages'], { cwd: ROOT });
    const start = steps.find((s) => s.line.endsWith('npm start'))!;
    const env = settings(start.line);
    expect(env.RSP_PLUGINS).toBe('./plugins/uml');
    t = await startTestGateway(db, { RSP_PLUGINS: join(ROOT, env.RSP_PLUGINS!) });
    const query = blocks('graphql')[0]!.trim();
    const uml = (await t.ok(query)).drivers.find((d: { name: string }) => d.name === 'uml');
    const shown = JSON.parse(/gives, among the others, `(\{[\s\S]*?\})`/.exec(section)![1]!.replace(/\s+/g, ' '));
    expect(uml).toEqual(shown);
  });

  test('a guest of technology uml goes through create, start, exec, stop and destroy over GraphQL', async () => {
    const w = await buildWorld(t);
    const image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'busybox', version: '1', technology: 'uml' } })).registerImage.id;
    expect((await t.upload(image, readFileSync(await buildBusyboxRootfs()))).status).toBe(200);
    const settled = async (op: { id: string }) => expect((await t.gateway.services.operations.settled(op.id)).state).toBe('SUCCEEDED');
    const { createEnvironment } = await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name: 'zaphod-uml', network: 'none', config: { GREETING: 'hello' } } });
    await settled(createEnvironment.operation);
    const id = createEnvironment.environment.id;
    await settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id })).startEnvironment);
    const exec = (await t.ok('mutation ($id: ID!, $c: [String!]!) { execEnvironment(id: $id, command: $c) { exitCode stdout } }', { id, c: ['sh', '-c', 'cat /proc/version; cat /etc/rsp/config.env'] })).execEnvironment;
    expect(exec.exitCode).toBe(0);
    expect(exec.stdout).toMatch(/^Linux version 6\.1\./);
    expect(exec.stdout).toContain("GREETING='hello'");
    await settled((await t.ok('mutation ($id: ID!) { stopEnvironment(id: $id) { id } }', { id })).stopEnvironment);
    await settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id })).destroyEnvironment);
  });

  test('where linux.uml is missing, the driver is listed unavailable with the probe\'s reason', async () => {
    const line = /with\n?`(RSP_PLUGIN_OPTIONS='[^`]+')`/.exec(section)![1]!;
    const options = /RSP_PLUGIN_OPTIONS='([^']+)'/.exec(line)![1]!;
    const reason = /`"reason": "([^"]+)"`/.exec(section)![1]!;
    const other = await createTestDatabase('pglite');
    const missing = await startTestGateway(other, { RSP_PLUGINS: join(ROOT, 'plugins', 'uml'), RSP_PLUGIN_OPTIONS: options });
    try {
      const uml = (await missing.ok('{ drivers { name available reason } }')).drivers.find((d: { name: string }) => d.name === 'uml');
      expect(uml).toEqual({ name: 'uml', available: false, reason });
    } finally {
      await missing.close();
      await other.drop();
    }
  });
});
