import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MUST_NOT_SKIP, probeEngines } from './engines';

/** The environment variable naming the run's PGlite template folder (as `PGLITE_TEMPLATE_ENV` in ./databases, not imported: it loads the gateway). */
const PGLITE_TEMPLATE_ENV = 'RSP_TEST_PGLITE_TEMPLATE_DIR';

/** The workspace packages built on their own (`npm run build:packages`). */
const PACKAGES = ['packages/sdk', 'plugins/examples/sandbox-driver', 'plugins/uml'];

/**
 * Once per run: probe the engines (and say which tests will skip and why), build dist/ for the CLI
 * tests, the SDK and example plugin packages for the plugin tests, and dist/web for the dashboard's;
 * make the folder where the first test gateway leaves the run's migrated PGlite template
 * (test/helpers/databases.ts; removed by the global teardown).
 */
export default async function globalSetup(): Promise<void> {
  process.env[PGLITE_TEMPLATE_ENV] = mkdtempSync(join(tmpdir(), 'rsp-pglite-template-'));
  const found = await probeEngines();
  const lines = Object.entries(found).map(([name, s]) => `  ${s.available ? '✓' : MUST_NOT_SKIP ? '✗' : '-'} ${name}: ${s.detail}${s.available ? '' : MUST_NOT_SKIP ? ' (CI=true: its tests will FAIL)' : ' (its tests are skipped)'}`);
  process.stdout.write(`\nEngines for this run:\n${lines.join('\n')}\n\n`);
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...PACKAGES.map((p) => join(root, p))], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts', 'build-web.js'), '--if-stale'], { cwd: root, stdio: 'inherit' });
}
