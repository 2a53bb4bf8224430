import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** The example driver plugin's package folder (built into its `dist/` by the test setup). */
export const EXAMPLE_PLUGIN_DIR = join(ROOT, 'plugins', 'examples', 'sandbox-driver');

/** The example plugin's package name. */
export const EXAMPLE_PLUGIN = 'rsp-example-sandbox-driver';

/** A plugin package installed into a scratch directory of its own. */
export interface InstalledPlugin {
  /** The scratch directory: load the plugin by package name with this as `cwd`. */
  cwd: string;
  /** Where the package is installed (`<cwd>/node_modules/<name>`). */
  packageDir: string;
  cleanup(): Promise<void>;
}

/**
 * Installs the example driver plugin as npm would, offline and outside the repository: its
 * package.json and published files (its `files` list) are copied to `<scratch>/node_modules/<name>`,
 * and its one dependency, `@rsp/sdk`, is the SDK workspace linked at
 * `<scratch>/node_modules/@rsp/sdk`. The plugin then finds the SDK as a package, through its own
 * node_modules, and loads the SDK's built copy: not the gateway's.
 */
export async function installExamplePlugin(): Promise<InstalledPlugin> {
  const cwd = await mkdtemp(join(tmpdir(), 'rsp-plugin-install-'));
  const manifest = JSON.parse(await readFile(join(EXAMPLE_PLUGIN_DIR, 'package.json'), 'utf8')) as { name: string; files: string[] };
  const packageDir = join(cwd, 'node_modules', manifest.name);
  await mkdir(packageDir, { recursive: true });
  for (const entry of ['package.json', ...manifest.files]) await cp(join(EXAMPLE_PLUGIN_DIR, entry), join(packageDir, entry), { recursive: true });
  await mkdir(join(cwd, 'node_modules', '@rsp'), { recursive: true });
  await symlink(join(ROOT, 'packages', 'sdk'), join(cwd, 'node_modules', '@rsp', 'sdk'), 'dir');
  return { cwd, packageDir, cleanup: () => rm(cwd, { recursive: true, force: true }) };
}
