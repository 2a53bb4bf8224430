import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError, type EnvironmentSpec } from '@rsp/sdk';
import { run } from './run';

/** The manifest at the top of an exported environment. */
export interface ExportManifest {
  format: 'rsp-uml-environment';
  version: 1;
  spec: EnvironmentSpec;
  /** Volume names whose contents are under `volumes/<name>/`. */
  volumes: string[];
}

const MANIFEST = 'uml-export.json';

/**
 * Streams an environment as a tar (sparse-aware): the manifest, `root.img` — its copy-on-write
 * file merged with the base disk by `uml_moo`, or its private disk — and each volume's files.
 * Everything is staged in `workDir` (removed when the stream ends or fails).
 */
export async function exportArchive(workRoot: string, spec: EnvironmentSpec, disk: { cow: string; base: string } | { root: string }, signal: AbortSignal): Promise<Readable> {
  await mkdir(workRoot, { recursive: true });
  const work = await mkdtemp(join(workRoot, '.export-'));
  try {
    if ('cow' in disk) await run('uml_moo', ['-b', disk.base, disk.cow, join(work, 'root.img')], { signal, timeoutMs: 600_000 });
    else await run('cp', ['--sparse=always', disk.root, join(work, 'root.img')], { signal, timeoutMs: 600_000 });
    const volumes = spec.volumes ?? [];
    await mkdir(join(work, 'volumes'));
    for (const v of volumes) await run('cp', ['-a', `${v.hostPath}/.`, join(work, 'volumes', v.name)], { signal, timeoutMs: 600_000 });
    const manifest: ExportManifest = { format: 'rsp-uml-environment', version: 1, spec, volumes: volumes.map((v) => v.name) };
    await writeFile(join(work, MANIFEST), JSON.stringify(manifest));
    const tar = spawn('tar', ['-cSf', '-', '-C', work, MANIFEST, 'root.img', 'volumes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    tar.on('close', (code) => {
      void rm(work, { recursive: true, force: true });
      if (code !== 0) tar.stdout.destroy(new Error(`tar of the exported environment failed: ${stderr.trim()}`));
    });
    return tar.stdout;
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Unpacks an exported environment into `envDir` (which must exist): its disk becomes
 * `envDir/root.img` and each volume of the archive is copied into the volume of the same name in
 * `spec`. BAD_USER_INPUT when the stream is not an exported UML environment.
 */
export async function importArchive(source: Readable, envDir: string, spec: EnvironmentSpec, signal: AbortSignal): Promise<void> {
  const work = await mkdtemp(join(envDir, '.import-'));
  try {
    const tar = spawn('tar', ['-xSf', '-', '-C', work, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => tar.on('close', resolve));
    await pipeline(source, tar.stdin, { signal });
    if ((await exited) !== 0) throw new BadInputError(`the archive is not a tar of an exported UML environment: ${stderr.trim()}`);
    const manifest = JSON.parse(await readFile(join(work, MANIFEST), 'utf8').catch(() => '{}')) as Partial<ExportManifest>;
    if (manifest.format !== 'rsp-uml-environment') throw new BadInputError('the archive is not an exported UML environment (no uml-export.json)');
    await rename(join(work, 'root.img'), join(envDir, 'root.img'));
    for (const volume of spec.volumes ?? []) {
      if (!manifest.volumes?.includes(volume.name)) continue;
      await run('cp', ['-a', `${join(work, 'volumes', volume.name)}/.`, volume.hostPath], { signal, timeoutMs: 600_000 });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
