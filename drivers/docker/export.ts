import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import * as tarFs from 'tar-fs';
import * as tar from 'tar-stream';
import type { InterfaceSpec, ResourceLimits, VolumeSpec } from '../contract';
import { BadInputError } from '../errors';

/**
 * The environment export format: one tar stream holding
 * - `rsp-environment.json` first: the manifest (below);
 * - `rootfs/…`: the container's filesystem (`docker export`);
 * - `volumes/<name>/…`: the content of each volume kept outside the image.
 * Everything streams: nothing is spooled to disk.
 */
export const MANIFEST_NAME = 'rsp-environment.json';
export const EXPORT_FORMAT = 'rsp-environment/1';

/** What an export says about the environment it came from. */
export interface EnvironmentManifest {
  format: typeof EXPORT_FORMAT;
  technology: 'docker';
  id: string;
  exportedAt: string;
  command?: string[];
  entrypoint?: string[];
  workingDir?: string;
  limits: ResourceLimits;
  iface: InterfaceSpec;
  labels: Record<string, string>;
  volumes: Array<Pick<VolumeSpec, 'name' | 'kind' | 'mountPath' | 'readOnly'>>;
}

type Header = tar.Headers;

function strip(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '');
}

/** Copies every entry of the tar `source` into `pack`, names prefixed with `prefix`. */
function copyEntries(source: Readable, pack: tar.Pack, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const extract = tar.extract();
    extract.on('entry', (header: Header, stream: Readable, next: () => void) => {
      const name = strip(header.name);
      if (name === '' || name === '.') {
        stream.resume();
        stream.on('end', next);
        return;
      }
      const copy: Header = { ...header, name: prefix + name };
      if (header.type === 'link' && header.linkname) copy.linkname = prefix + strip(header.linkname);
      addEntry(pack, copy, stream, next, reject);
    });
    extract.once('finish', resolve);
    extract.on('error', reject);
    source.on('error', (e) => {
      extract.destroy();
      reject(e);
    });
    source.pipe(extract);
  });
}

function addEntry(pack: tar.Pack, header: Header, body: Readable, next: () => void, fail: (e: Error) => void): void {
  if (header.type === 'file' || header.type === 'contiguous-file') {
    const sink = pack.entry(header, (err) => (err ? fail(err) : next()));
    body.pipe(sink);
  } else {
    body.resume();
    pack.entry(header, (err) => (err ? fail(err) : next()));
  }
}

/** Builds the export stream from the manifest, the rootfs tar and the volume directories. */
export function packEnvironment(manifest: EnvironmentManifest, rootfs: Readable, volumes: Array<Pick<VolumeSpec, 'name' | 'hostPath'>>): Readable {
  const pack = tar.pack();
  void (async () => {
    const json = Buffer.from(JSON.stringify(manifest, null, 2));
    await new Promise<void>((resolve, reject) => pack.entry({ name: MANIFEST_NAME, size: json.length, mode: 0o644 }, json, (err) => (err ? reject(err) : resolve())));
    await copyEntries(rootfs, pack, 'rootfs/');
    for (const volume of volumes) await copyEntries(tarFs.pack(volume.hostPath) as unknown as Readable, pack, `volumes/${volume.name}/`);
    pack.finalize();
  })().catch((e: Error) => {
    rootfs.destroy();
    pack.destroy(e);
  });
  return pack as unknown as Readable;
}

/** What to do with the parts of an export while it streams. */
export interface UnpackHandlers<T> {
  /** Receives the rootfs as a tar stream (called once the manifest is read). */
  rootfs(manifest: EnvironmentManifest, tarStream: Readable): Promise<T>;
  /** Host directory to restore volume `name` into, or undefined to skip it. */
  volumeDir(name: string): string | undefined;
}

/** Reads an export stream: parses the manifest, streams the rootfs to `handlers.rootfs`, restores volumes. */
export function unpackEnvironment<T>(source: Readable, handlers: UnpackHandlers<T>): Promise<{ manifest: EnvironmentManifest; result: T }> {
  return new Promise((resolve, reject) => {
    const extract = tar.extract();
    let manifest: EnvironmentManifest | undefined;
    let rootfsPack: tar.Pack | undefined;
    let rootfsDone: Promise<T> | undefined;
    const volumeDone: Array<Promise<void>> = [];
    let volume: { name: string; pack?: tar.Pack } | undefined;
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      source.unpipe(extract);
      source.resume(); // drain: the caller's stream must not stall
      extract.destroy();
      rootfsPack?.destroy(e);
      volume?.pack?.destroy(e);
      reject(e);
    };
    const closeVolume = () => {
      volume?.pack?.finalize();
      volume = undefined;
    };
    extract.on('entry', (header: Header, stream: Readable, next: () => void) => {
      const name = strip(header.name);
      const skip = () => {
        stream.resume();
        stream.on('end', next);
      };
      if (name === MANIFEST_NAME) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EnvironmentManifest;
            if (parsed.format !== EXPORT_FORMAT) throw new BadInputError(`not an RSP environment export (format ${String(parsed.format)})`, {});
            manifest = parsed;
            rootfsPack = tar.pack();
            rootfsPack.on('error', () => undefined); // reported through fail()
            rootfsDone = handlers.rootfs(manifest, rootfsPack as unknown as Readable);
            rootfsDone.catch((e: Error) => fail(e));
            next();
          } catch (e) {
            fail(e instanceof BadInputError ? e : new BadInputError(`the export's manifest is not valid JSON: ${(e as Error).message}`, {}));
          }
        });
        return;
      }
      if (!manifest || !rootfsPack) return fail(new BadInputError(`not an RSP environment export: ${MANIFEST_NAME} must come first`, {}));
      const fixLink = (prefix: string) => (header.type === 'link' && header.linkname ? strip(header.linkname).slice(prefix.length) : header.linkname);
      if (name.startsWith('rootfs/')) {
        const inner = name.slice('rootfs/'.length);
        if (!inner) return skip();
        return addEntry(rootfsPack, { ...header, name: inner, linkname: fixLink('rootfs/') }, stream, next, fail);
      }
      const match = /^volumes\/([^/]+)\/(.*)$/.exec(name);
      if (!match) return skip();
      const [, volumeName, inner] = match as unknown as [string, string, string];
      if (volume?.name !== volumeName) {
        closeVolume();
        const dir = handlers.volumeDir(volumeName);
        volume = { name: volumeName };
        if (dir) {
          const pack = tar.pack();
          pack.on('error', () => undefined); // reported through fail()
          volume.pack = pack;
          volumeDone.push(
            mkdir(dir, { recursive: true }).then(
              () =>
                new Promise<void>((res, rej) => {
                  const out = tarFs.extract(dir);
                  out.once('finish', res);
                  out.on('error', rej);
                  (pack as unknown as Readable).pipe(out);
                }),
            ),
          );
        }
      }
      if (!volume.pack || !inner) return skip();
      addEntry(volume.pack, { ...header, name: inner, linkname: fixLink(`volumes/${volumeName}/`) }, stream, next, fail);
    });
    extract.once('finish', () => {
      if (failed) return;
      if (!manifest || !rootfsPack || !rootfsDone) return fail(new BadInputError(`not an RSP environment export: no ${MANIFEST_NAME}`, {}));
      closeVolume();
      rootfsPack.finalize();
      const m = manifest;
      Promise.all([rootfsDone, ...volumeDone]).then(([result]) => resolve({ manifest: m, result: result as T }), fail);
    });
    extract.on('error', (e: Error) => fail(new BadInputError(`the export stream is not a valid tar archive: ${e.message}`, {})));
    source.on('error', fail);
    source.pipe(extract);
  });
}
