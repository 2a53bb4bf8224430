import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where Debian's user-mode-linux keeps its kernel's modules, a folder per release. */
export const UML_MODULES_DIR = '/usr/lib/uml/modules';

/** The ipv6 module's path inside a release's folder (Debian's UML kernel has IPv6 as a module, `CONFIG_IPV6=m`). */
const IPV6_MODULE = 'kernel/net/ipv6/ipv6.ko';

/** Whether some release under `modulesDir` has the ipv6 module (synchronous: read for `capabilities`). */
export function hasIpv6Module(modulesDir = UML_MODULES_DIR): boolean {
  try {
    return readdirSync(modulesDir).some((release) => existsSync(join(modulesDir, release, IPV6_MODULE)));
  } catch {
    return false;
  }
}

/**
 * The host paths of the ipv6 module of UML kernel `release` and of the modules it needs, in load
 * order (its `modules.dep` line, dependencies first); undefined when the release has no ipv6 module.
 */
export async function ipv6ModuleFiles(release: string, modulesDir = UML_MODULES_DIR): Promise<string[] | undefined> {
  const dir = join(modulesDir, release);
  if (!existsSync(join(dir, IPV6_MODULE))) return undefined;
  const deps = (await readFile(join(dir, 'modules.dep'), 'utf8').catch(() => ''))
    .split('\n')
    .find((line) => line.startsWith(`${IPV6_MODULE}:`))
    ?.slice(IPV6_MODULE.length + 1)
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return [...(deps ?? []).reverse(), IPV6_MODULE].map((m) => join(dir, m));
}
