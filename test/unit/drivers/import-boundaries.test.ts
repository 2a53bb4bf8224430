import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** Every TypeScript source file under `dir` (built output and dependencies left out). */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !`${e.parentPath}${sep}`.includes(`${sep}dist${sep}`) && !`${e.parentPath}${sep}`.includes(`${sep}node_modules${sep}`))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The module specifiers a file imports or re-exports. */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)].map((m) => m[1]!);
}

/** Where a relative specifier of `file` points, from the repository root; undefined for a package. */
function target(file: string, specifier: string): string | undefined {
  return specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), specifier)) : undefined;
}

const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);

/** The layering of issue 18: drivers and the SDK below the gateway, plugins on the SDK only. */
describe('import boundaries', () => {
  test('the scan sees imports, multi-line and type-only ones included', () => {
    expect(imports('drivers/registry.ts')).toEqual(expect.arrayContaining(['./errors', './call', './contract']));
    expect(imports('plugins/loader.ts')).toEqual(expect.arrayContaining(['../gateway/version', './api']));
    expect(target('plugins/loader.ts', '../gateway/version')).toBe(join('gateway', 'version'));
  });

  test('drivers/ and packages/ import nothing from gateway/', () => {
    const offending = [...sources('drivers'), ...sources('packages')].flatMap((file) =>
      imports(file).filter((s) => target(file, s)?.startsWith(`gateway${sep}`)).map((s) => `${file} → ${s}`),
    );
    expect(offending).toEqual([]);
  });

  test('the SDK imports only itself and Node (and the graphql types of the plugin hooks)', () => {
    const offending = sources('packages/sdk/src').flatMap((file) =>
      imports(file)
        .filter((s) => !isBuiltin(s) && s !== 'graphql' && !target(file, s)?.startsWith(join('packages', 'sdk', 'src')))
        .map((s) => `${file} → ${s}`),
    );
    expect(offending).toEqual([]);
  });

  test.each(['plugins/examples/sandbox-driver', 'plugins/uml'])('the driver plugin %s imports the SDK package only', (dir) => {
    const offending = sources(dir).flatMap((file) =>
      imports(file)
        .filter((s) => !isBuiltin(s) && s !== '@rsp/sdk' && !s.startsWith('@rsp/sdk/') && !target(file, s)?.startsWith(join(...dir.split('/'))))
        .map((s) => `${file} → ${s}`),
    );
    expect(offending).toEqual([]);
  });
});
