import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MUST_NOT_SKIP, probeEngines } from './engines';

/** The workspace packages built on their own (`npm run build:packages`). */
const PACKAGES = ['packages/sdk', 'plugins/examples/sandbox-driver', 'plugins/uml'];

/**
 * Once per run: probe the engines (and say which tests will skip and why), build dist/ for the CLI
 * tests, the SDK and example plugin packages for the plugin tests, and dist/web for the dashboard's.
 */
export default async function globalSetup(): Promise<void> {
  const found = await probeEngines();
  const lines = Object.entries(found).map(([name, s]) => `  ${s.available ? '✓' : MUST_NOT_SKIP ? '✗' : '-'} ${name}: ${s.detail}${s.available ? '' : MUST_NOT_SKIP ? ' (CI=true: its tests will FAIL)' : ' (its tests are skipped)'}`);
  process.stdout.write(`\nEngines for this run:\n${lines.join('\n')}\n\n`);
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', ...PACKAGES.map((p) => join(root, p))], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'scripts', 'build-web.js'), '--if-stale'], { cwd: root, stdio: 'inherit' });
}
