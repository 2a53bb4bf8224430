import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** A generated file tree: its files (path, size) and total bytes. */
export interface BenchTree {
  dir: string;
  files: Array<{ path: string; size: number }>;
  bytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Unique text lines (log-like, counters in every line): compresses well, yet no two chunks
 * repeat, so the store cannot win by deduplicating within the tree.
 */
function textBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; offset < size; i += 1) {
    const n = seed * 1_000_003 + i;
    offset += out.write(`${1_700_000_000 + n} host-${n % 17} svc[${n % 101}] GET /api/v1/items/${n} 200 ${n % 997}ms user=${(n * 7919) % 100_000}\n`, offset);
  }
  return out;
}

/**
 * Writes a tree of about `bytes` under `dir`: large (4–24 MiB, 60% of the bytes), medium
 * (64 KiB–1 MiB, 30%) and small (512 B–16 KiB, 10%) files, in directories of at most 100 files,
 * half of the bytes random and half compressible text.
 */
export async function generateTree(dir: string, bytes: number): Promise<BenchTree> {
  const files: BenchTree['files'] = [];
  const classes: Array<[share: number, min: number, max: number]> = [
    [0.6, 4 * MiB, 24 * MiB],
    [0.3, 64 * KiB, MiB],
    [0.1, 512, 16 * KiB],
  ];
  let total = 0;
  for (const [share, min, max] of classes) {
    let left = Math.floor(bytes * share);
    while (left > 0) {
      const size = Math.min(left, randomInt(min, max + 1));
      const n = files.length;
      const path = join(dir, `d${Math.floor(n / 100)}`, `f${n}${n % 2 ? '.log' : '.bin'}`);
      if (n % 100 === 0) await mkdir(join(dir, `d${Math.floor(n / 100)}`), { recursive: true });
      await writeFile(path, n % 2 ? textBytes(size, n) : randomBytes(size));
      files.push({ path, size });
      left -= size;
      total += size;
    }
  }
  return { dir, files, bytes: total };
}

/**
 * Changes about `fraction` of the tree's bytes in place: a few large files each get a region
 * overwritten with random bytes. Resolves to the bytes changed.
 */
export async function changeTree(tree: BenchTree, fraction: number, files = 4): Promise<number> {
  const large = tree.files.filter((f) => f.size >= 4 * MiB).slice(0, files);
  const each = Math.floor((tree.bytes * fraction) / Math.max(1, large.length));
  let changed = 0;
  for (const file of large) {
    const length = Math.min(each, file.size);
    const handle = await open(file.path, 'r+');
    try {
      await handle.write(randomBytes(length), 0, length, randomInt(0, file.size - length + 1));
    } finally {
      await handle.close();
    }
    changed += length;
  }
  return changed;
}

/** The arguments of `tar` that stream `dir` to stdout (sorted, so two runs give the same order). */
export function tarArgs(dir: string): string[] {
  return ['--sort=name', '-cf', '-', '-C', dir, '.'];
}

/** `tar -cf - -C dir .` as a child process whose stdout is the archive. */
export function spawnTar(dir: string): ChildProcess & { stdout: Readable } {
  return spawn('tar', tarArgs(dir), { stdio: ['ignore', 'pipe', 'inherit'] }) as ChildProcess & { stdout: Readable };
}

/** Resolves when `child` exits with 0; rejects naming it otherwise. */
export function exited(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code ?? signal}`))));
  });
}

/** `tar -cf - -C dir . | sha256sum`: tar's stdout is handed to sha256sum as its stdin (no shell). Resolves to the digest. */
export async function tarIntoSha256sum(dir: string): Promise<string> {
  const tar = spawnTar(dir);
  const sum = spawn('sha256sum', [], { stdio: [tar.stdout, 'pipe', 'inherit'] });
  let out = '';
  sum.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  await Promise.all([exited(tar, 'tar'), exited(sum, 'sha256sum')]);
  return out.split(/\s/)[0]!;
}
