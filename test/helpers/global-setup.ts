import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MUST_NOT_SKIP, probeEngines } from './engines';

/** The environment variable naming the run's PGlite template folder (as `PGLITE_TEMPLATE_ENV` in ./databases, imported only once it is set: it loads the gateway's persistence). */
const PGLITE_TEMPLATE_ENV = 'RSP_TEST_PGLITE_TEMPLATE_DIR';

/** The workspace packages built on their own (`npm run build:packages`). */
const PACKAGES = ['packages/sdk', 'plugins/examples/sandbox-driver', 'plugins/uml'];

/** Runs `node <args>` in `cwd` with the output shown; resolves once it exits 0, rejects otherwise. */
function runNode(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited with ${signal ?? code}`))));
  });
}

/**
 * Once per run: probe the engines (and say which tests will skip and why), build dist/ for the CLI
 * tests, the SDK and example plugin packages for the plugin tests, and dist/web for the dashboard's
 * (the three builds are independent: they run side by side, beside the probe); make the folder
 * for the run's migrated PGlite template and make it, beside the builds (test/helpers/databases.ts
 * `makePgliteTemplate`; removed by the global teardown): made by the first test gateway instead,
 * it cost that test file's `beforeAll` over a minute on a loaded 2-core machine, and each jest
 * worker made its own when they started together.
 */
export default async function globalSetup(): Promise<void> {
  process.env[PGLITE_TEMPLATE_ENV] = mkdtempSync(join(tmpdir(), 'rsp-pglite-template-'));
  const root = join(__dirname, '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const builds = Promise.allSettled([
    runNode([tsc, '-p', join(root, 'tsconfig.build.json')], root),
    runNode([tsc, '-b', ...PACKAGES.map((p) => join(root, p))], root),
    runNode([join(root, 'scripts', 'build-web.js'), '--if-stale'], root),
  ]);
  const template = (async () => {
    // Required here, not imported at the top: ./databases loads the gateway's persistence (and its decorators' metadata).
    require('reflect-metadata');
    const { makePgliteTemplate } = require('./databases') as typeof import('./databases');
    await makePgliteTemplate();
  })();
  // Awaited after the builds: a failure meanwhile is not an unhandled rejection.
  template.catch(() => undefined);
  const found = await probeEngines();
  const lines = Object.entries(found).map(([name, s]) => `  ${s.available ? '✓' : MUST_NOT_SKIP ? '✗' : '-'} ${name}: ${s.detail}${s.available ? '' : MUST_NOT_SKIP ? ' (CI=true: its tests will FAIL)' : ' (its tests are skipped)'}`);
  process.stdout.write(`\nEngines for this run:\n${lines.join('\n')}\n\n`);
  const failed = (await builds).find((b): b is PromiseRejectedResult => b.status === 'rejected');
  if (failed) throw failed.reason;
  await template;
}
