import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError, NotFoundError } from '../errors';
import { ArtifactStore } from './artifact-store';

/** What storing an image's bits gave. */
export interface StoredImage {
  digest: string;
  sizeBytes: number;
}

/** Checks of `ImageStore.put` beyond its own size limit. */
export interface PutOptions {
  /** The digest the bits must have (`sha256:…`); other bits are refused and not kept. */
  expectedDigest?: string | null;
  /** Room the bits must be given before they are written (a group's storage quota); its error refuses them. */
  room?: Room;
}

/** Room for bits as they arrive: `cover` grows it to a total (or throws the error that refuses them). */
export interface Room {
  covers(total: number): boolean;
  cover(total: number): Promise<void>;
}

/**
 * Image bits (root filesystem tarballs), content-addressed in a directory: each file is named by
 * its sha256, written to a temporary name first and renamed once complete and hashed. For host
 * agents, an image is also kept as an artifact of `chunks` (cut into content-addressed chunks),
 * which agents fetch from as their upstream chunk source.
 */
export class ImageStore {
  /** The artifact id of each image's bits as last read or written beside them (`manifestOf`): every environment's create asks it. */
  private readonly manifests = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly maxBytes = 8 * 1024 ** 3,
    /** The artifact store of images as chunks (default: `chunks` in `dir`). */
    readonly chunks: ArtifactStore = ArtifactStore.inDirectory(join(dir, 'chunks')),
  ) {}

  /**
   * Stores a stream; BAD_USER_INPUT when it is empty, larger than the store's limit or not of the
   * expected digest; `options.room`'s error when it cannot cover the bits (a group's storage quota). Bits are
   * written under a temporary name and renamed only once complete and checked: a refusal, a
   * source that fails or a client that goes away leaves nothing behind.
   */
  async put(source: Readable, options: PutOptions = {}): Promise<StoredImage> {
    await mkdir(this.dir, { recursive: true });
    const partial = join(this.dir, `.partial-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const max = this.maxBytes;
    const room = options.room;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > max) return done(new BadInputError(`The image is larger than ${max} bytes`, { maxBytes: max }));
        hash.update(chunk);
        if (!room || room.covers(size)) return done(null, chunk);
        room.cover(size).then(() => done(null, chunk), done);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(partial));
      if (size === 0) throw new BadInputError('The image is empty');
      const digest = `sha256:${hash.digest('hex')}`;
      if (options.expectedDigest && options.expectedDigest !== digest) throw new BadInputError(`The content's digest ${digest} is not the declared ${options.expectedDigest}`, { declared: options.expectedDigest, got: digest });
      await rename(partial, this.pathOf(digest));
      return { digest, sizeBytes: size };
    } finally {
      await rm(partial, { force: true });
    }
  }

  /** Streams stored bits; NOT_FOUND when absent. */
  async open(digest: string): Promise<Readable> {
    const path = this.pathOf(digest);
    if (!existsSync(path)) throw new NotFoundError('Image content', digest);
    await stat(path);
    return createReadStream(path);
  }

  /** True when the bits of `digest` are stored. */
  has(digest: string): boolean {
    return existsSync(this.pathOf(digest));
  }

  /**
   * The id of the artifact of `chunks` that holds the image's bits, stored there on first use
   * (the artifact id is remembered beside the bits). NOT_FOUND when the bits are not stored.
   */
  async manifestOf(digest: string): Promise<string> {
    const index = this.pathOf(digest).replace(/\.tar$/, '.manifest');
    const remembered = this.manifests.get(digest);
    if (remembered && this.has(digest) && (await this.chunks.has(remembered))) return remembered;
    const known = (await readFile(index, 'utf8').catch(() => '')).trim();
    if (known && (await this.chunks.has(known))) {
      this.manifests.set(digest, known);
      return known;
    }
    const { manifest } = await this.chunks.put(await this.open(digest), { labels: { image: digest } });
    const partial = `${index}.partial-${randomBytes(8).toString('hex')}`;
    await writeFile(partial, manifest.id);
    await rename(partial, index);
    this.manifests.set(digest, manifest.id);
    return manifest.id;
  }

  /** Removes stored bits and their chunk artifact (the chunks go at the next collection); nothing when absent. */
  async remove(digest: string): Promise<void> {
    const path = this.pathOf(digest);
    const index = path.replace(/\.tar$/, '.manifest');
    this.manifests.delete(digest);
    const known = (await readFile(index, 'utf8').catch(() => '')).trim();
    if (known) await this.chunks.delete(known).catch(() => undefined);
    await rm(index, { force: true });
    await rm(path, { force: true });
  }

  private pathOf(digest: string): string {
    const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!match) throw new BadInputError(`"${digest}" is not a sha256 digest`, { digest });
    return join(this.dir, `sha256-${match[1]}.tar`);
  }
}
