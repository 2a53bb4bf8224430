import { mkdir, readdir, readFile, rm, writeFile, appendFile, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { VolumeSpec } from '../contract';

/** A filesystem error with the errno-style code a command reports. */
export class FakeFsError extends Error {
  constructor(readonly code: 'ENOENT' | 'EROFS' | 'ENOSPC' | 'EISDIR' | 'EINVAL', readonly path: string) {
    super(`${path}: ${FS_MESSAGES[code]}`);
  }
}

const FS_MESSAGES = {
  ENOENT: 'No such file or directory',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
} as const;

/**
 * The filesystem of one fake environment: the root filesystem in memory (a map of absolute path
 * to bytes, directories implied), and volumes bound to real host directories, the way a bind
 * mount does it — what is written under a volume's mount path lands in its `hostPath`.
 */
export class FakeFilesystem {
  constructor(
    readonly root: Map<string, Buffer>,
    private readonly volumes: VolumeSpec[],
    public diskLimitBytes?: number,
  ) {}

  /** Bytes the root filesystem uses (what the disk limit counts). */
  usedBytes(): number {
    let total = 0;
    for (const data of this.root.values()) total += data.length;
    return total;
  }

  /** Reads a file. */
  async read(path: string): Promise<Buffer> {
    const where = this.locate(path);
    if (where.volume) {
      try {
        return await readFile(where.hostFile);
      } catch (e) {
        throw new FakeFsError((e as NodeJS.ErrnoException).code === 'EISDIR' ? 'EISDIR' : 'ENOENT', where.path);
      }
    }
    const data = this.root.get(where.path);
    if (!data) throw new FakeFsError(this.isRootDirectory(where.path) ? 'EISDIR' : 'ENOENT', where.path);
    return data;
  }

  /** Writes (or appends to) a file; EROFS on a read-only volume, ENOSPC past the disk limit. */
  async write(path: string, data: Buffer, append = false): Promise<void> {
    const where = this.locate(path);
    if (where.volume) {
      if (where.volume.readOnly) throw new FakeFsError('EROFS', where.path);
      if (where.hostFile === where.volume.hostPath) throw new FakeFsError('EISDIR', where.path);
      await mkdir(dirname(where.hostFile), { recursive: true });
      await (append ? appendFile : writeFile)(where.hostFile, data);
      return;
    }
    if (this.isRootDirectory(where.path)) throw new FakeFsError('EISDIR', where.path);
    const before = this.root.get(where.path);
    const next = append && before ? Buffer.concat([before, data]) : data;
    if (this.diskLimitBytes !== undefined && this.usedBytes() - (before?.length ?? 0) + next.length > this.diskLimitBytes) {
      throw new FakeFsError('ENOSPC', where.path);
    }
    this.root.set(where.path, next);
  }

  /** Removes a file. */
  async remove(path: string): Promise<void> {
    const where = this.locate(path);
    if (where.volume) {
      if (where.volume.readOnly) throw new FakeFsError('EROFS', where.path);
      try {
        await stat(where.hostFile);
      } catch {
        throw new FakeFsError('ENOENT', where.path);
      }
      await rm(where.hostFile, { recursive: false });
      return;
    }
    if (!this.root.delete(where.path)) throw new FakeFsError('ENOENT', where.path);
  }

  /** Names in a directory, sorted; a file lists as its own name. */
  async list(path: string): Promise<string[]> {
    const where = this.locate(path);
    const names = new Set<string>();
    if (where.volume) {
      try {
        for (const name of await readdir(where.hostFile)) names.add(name);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return [posix.basename(where.path)];
        throw new FakeFsError('ENOENT', where.path);
      }
      return [...names].sort();
    }
    if (this.root.has(where.path)) return [posix.basename(where.path)];
    const prefix = where.path === '/' ? '/' : `${where.path}/`;
    for (const file of this.root.keys()) if (file.startsWith(prefix)) names.add(file.slice(prefix.length).split('/')[0]!);
    for (const volume of this.volumes) if (volume.mountPath.startsWith(prefix)) names.add(volume.mountPath.slice(prefix.length).split('/')[0]!);
    if (!names.size && where.path !== '/') throw new FakeFsError('ENOENT', where.path);
    return [...names].sort();
  }

  /** Every file of every volume, as relative paths with their bytes. */
  async volumeFiles(volume: VolumeSpec): Promise<Array<{ path: string; data: Buffer }>> {
    const out: Array<{ path: string; data: Buffer }> = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const relPath = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(join(dir, entry.name), relPath);
        else if (entry.isFile()) out.push({ path: relPath, data: await readFile(join(dir, entry.name)) });
      }
    };
    await walk(volume.hostPath, '');
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  private isRootDirectory(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const file of this.root.keys()) if (file.startsWith(prefix)) return true;
    return false;
  }

  private locate(path: string): { path: string; volume?: VolumeSpec; hostFile: string } {
    if (!path.startsWith('/')) throw new FakeFsError('EINVAL', path);
    const normal = posix.normalize(path).replace(/(.)\/+$/, '$1');
    const volume = [...this.volumes]
      .sort((a, b) => b.mountPath.length - a.mountPath.length)
      .find((v) => normal === v.mountPath || normal.startsWith(`${v.mountPath}/`));
    if (!volume) return { path: normal, hostFile: '' };
    const rel = normal.slice(volume.mountPath.length).replace(/^\//, '');
    return { path: normal, volume, hostFile: rel ? join(volume.hostPath, ...rel.split('/')) : volume.hostPath };
  }
}
