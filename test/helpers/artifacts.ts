import { readFile, writeFile } from 'node:fs/promises';
import type { ArtifactStore } from '../../gateway/artifacts/artifact-store';

/** Where a backend keeps a chunk's stored bytes (both directory backends answer it). */
interface LocatingBackend {
  whereIs(id: string): Promise<{ path: string; offset: number; length: number } | undefined>;
}

/** Damages chunk `id` on disk, the way a failing disk would: every stored byte of it is flipped. */
export async function corruptChunk(store: ArtifactStore, id: string): Promise<void> {
  const where = await (store.backend as unknown as LocatingBackend).whereIs(id);
  if (!where) throw new Error(`chunk ${id} is not stored`);
  const bytes = await readFile(where.path);
  for (let i = where.offset; i < where.offset + where.length; i++) bytes[i] = bytes[i]! ^ 0xff;
  await writeFile(where.path, bytes);
}

/** Flips one byte in the middle of chunk `id` on disk (a single bit-rot event); its file's size stays the same. */
export async function flipByte(store: ArtifactStore, id: string): Promise<void> {
  const where = await (store.backend as unknown as LocatingBackend).whereIs(id);
  if (!where) throw new Error(`chunk ${id} is not stored`);
  const bytes = await readFile(where.path);
  const at = where.offset + Math.floor(where.length / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(where.path, bytes);
}
