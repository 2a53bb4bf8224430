import { execFile } from 'node:child_process';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A directory the hypervisor's user can traverse (mkdtemp makes 0700 ones). */
export async function hypervisorReadableDir(prefix: string, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** A small empty qcow2 base image (what environments' overlays are backed by), in `dir`. */
export async function makeBaseImage(dir: string, sizeBytes = 16 * 1024 * 1024): Promise<string> {
  const path = join(dir, 'base.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  await chmod(path, 0o444); // never written: every environment writes into its own overlay
  return path;
}
