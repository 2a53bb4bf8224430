import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UnavailableError } from '../errors';
import { lastLines } from './run-tool';

/**
 * Directory trees as tar streams, through GNU tar run with argument arrays: used to export an
 * environment (root filesystem + config) and to import it elsewhere.
 */

/** A tar stream of `entries` under `dir`; the stream errors if tar fails. */
export function packTree(dir: string, entries: string[]): Readable {
  return packTar(dir, ['-C', dir, '--', ...entries]);
}

/** A tar stream made by `tar -c --numeric-owner <args>` (several -C, --transform…); `what` names it in errors. */
export function packTar(what: string, args: string[]): Readable {
  const dir = what;
  const out = new PassThrough();
  const child = spawn('tar', ['-c', '--numeric-owner', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => out.destroy(e));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new UnavailableError(`packing ${dir} failed (tar exited ${code}): ${lastLines(stderr)}`, { dir }));
  });
  return out;
}

/** Unpacks a tar stream into `dir` (which must exist). */
export async function unpackStream(source: Readable, dir: string, signal?: AbortSignal): Promise<void> {
  const child = spawn('tar', ['-x', '--numeric-owner', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'], signal });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  try {
    await pipeline(source, child.stdin);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') {
      // The source failed: stop tar and wait for it, so nothing writes into `dir` afterwards.
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
      throw e;
    }
  }
  const code = await exited;
  if (code !== 0) throw new UnavailableError(`unpacking into ${dir} failed (tar exited ${code}): ${lastLines(stderr)}`, { dir });
}
