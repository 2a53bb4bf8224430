import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import type Docker from 'dockerode';
import type { ImageImportSpec, ImportedImage } from '../contract';
import { BadInputError } from '../errors';

/**
 * Images without a registry: a root filesystem tarball is streamed into the engine
 * (`docker import`), its sha256 computed on the way; `exportRootfs` gives the same kind of tarball
 * back from an image (through a never-started container).
 */

/** The tag an imported image gets: `<repository>:<name>-<version>`, lower-case and engine-safe. */
export function imageTag(repository: string, spec: Pick<ImageImportSpec, 'name' | 'version'>): { repo: string; tag: string } {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 60) || 'image';
  return { repo: repository, tag: `${safe(spec.name)}-${safe(spec.version ?? 'latest')}` };
}

/** Streams `source` (a rootfs tar) into the engine; resolves with the image id, the tar's sha256 and size. */
export async function importRootfs(docker: Docker, source: Readable, target: { repo: string; tag: string; changes?: string[] }, signal: AbortSignal): Promise<ImportedImage> {
  if (!(source instanceof Readable) && typeof (source as { pipe?: unknown })?.pipe !== 'function') throw new BadInputError('image source must be a readable stream', {});
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const body = source.pipe(hashing).pipe(new PassThrough());
  source.on('error', (e) => body.destroy(e));
  body.on('error', () => undefined); // surfaces through the engine request
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new Error('image import cancelled'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const response = (await docker.importImage(body as unknown as string, { repo: target.repo, tag: target.tag, ...(target.changes ? { changes: target.changes } : {}) } as object)) as NodeJS.ReadableStream;
    const output = await new Promise<Array<{ status?: string; error?: string; errorDetail?: { message?: string } }>>((resolve, reject) => {
      docker.modem.followProgress(response, (err: Error | null, out: unknown[]) => (err ? reject(err) : resolve(out as never)));
    });
    const failure = output.find((o) => o.error || o.errorDetail);
    if (failure) throw new BadInputError(`the engine refused the image: ${failure.errorDetail?.message ?? failure.error}`, { format: 'rootfs-tar' });
    const id = [...output].reverse().find((o) => o.status?.startsWith('sha256:'))?.status;
    if (!id) throw new BadInputError('the engine did not report an image id for the import', { output: output.slice(-3) });
    return { ref: id.trim(), digest: `sha256:${hash.digest('hex')}`, sizeBytes: size };
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 500) throw new BadInputError(`the engine refused the image: ${(e as { json?: { message?: string } }).json?.message ?? (e as Error).message}`, { format: 'rootfs-tar' });
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The root filesystem of `imageRef` as a tar stream. A never-started helper container is removed when the stream ends. */
export async function exportRootfs(docker: Docker, imageRef: string): Promise<Readable> {
  const helper = await docker.createContainer({ Image: imageRef, Cmd: ['/rsp-export-placeholder'], Labels: { 'rsp.export-of': imageRef } });
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    helper.remove({ force: true }).catch(() => undefined);
  };
  try {
    const tar = (await helper.export()) as unknown as Readable;
    const out = new PassThrough();
    tar.on('error', (e) => out.destroy(e));
    tar.pipe(out);
    out.once('close', remove);
    out.once('end', remove);
    return out;
  } catch (e) {
    remove();
    throw e;
  }
}
