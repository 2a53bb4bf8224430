import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { isMissing } from './directories';

/** What a store knows of one chunk's stored bytes: what they were when last found intact, or that they are damaged. */
export interface ChunkRecord {
  /** Bytes stored. */
  size: number;
  /** True when the stored bytes are the plaintext (their sha256 is the chunk id). */
  plain: boolean;
  /** sha256 (hex) of the stored bytes of a sealed chunk; null when unknown. */
  sha256: string | null;
  /** The backend's stamp of where the bytes live when they were last found intact; null until first seen. */
  stamp: string | null;
  /** When the bytes were last written or found intact (ms since the epoch). */
  verifiedAt: number;
  /** Why the bytes are known to be damaged; absent while intact. */
  damaged?: string;
}

/** Lines appended before the file is rewritten with one line per chunk. */
const COMPACT_AFTER = 50_000;

/**
 * A store's verification state, one record per chunk: kept in memory and, for a store in a
 * directory, appended to a file there (`chunk-ledger.jsonl`, the last line of a chunk wins) when
 * the store's call that changed it ends (`flush`: nothing is written behind the caller's back), so a
 * replication run can trust a chunk without reading it while its bytes have not changed since.
 */
export class ChunkLedger {
  private readonly records = new Map<string, ChunkRecord>();
  private loading: Promise<void> | undefined;
  private queued: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private lines = 0;

  /** `file`: where the records are kept; undefined: in memory only. */
  constructor(private readonly file?: string) {}

  /** The record of a chunk, if any. */
  async get(id: string): Promise<ChunkRecord | undefined> {
    await this.loaded();
    return this.records.get(id);
  }

  /** Records a chunk's state (replacing what was known). */
  async note(id: string, record: ChunkRecord): Promise<void> {
    await this.loaded();
    this.records.set(id, record);
    this.append({ id, ...record });
  }

  /** Records that a chunk's bytes are damaged (a later write or check replaces it). */
  async markDamaged(id: string, reason: string): Promise<void> {
    const known = await this.get(id);
    await this.note(id, { size: known?.size ?? 0, plain: known?.plain ?? false, sha256: known?.sha256 ?? null, stamp: known?.stamp ?? null, verifiedAt: known?.verifiedAt ?? 0, damaged: reason });
  }

  /** Forgets chunks removed from the store. */
  async forget(ids: Iterable<string>): Promise<void> {
    await this.loaded();
    for (const id of ids) {
      if (this.records.delete(id)) this.append({ id, forgotten: true });
    }
  }

  /** Resolves once every record so far is on disk. */
  async flush(): Promise<void> {
    this.drain();
    await this.writing;
  }

  private append(line: Record<string, unknown>): void {
    if (!this.file) return;
    this.queued.push(JSON.stringify(line));
  }

  /** Writes the queued lines (one append), or the whole ledger when it has grown too long. */
  private drain(): void {
    if (!this.file || !this.queued.length) return;
    const lines = this.queued;
    this.queued = [];
    const file = this.file;
    this.lines += lines.length;
    const compact = this.lines > COMPACT_AFTER && this.lines > 2 * this.records.size;
    this.writing = this.writing
      .then(async () => {
        if (!compact) return appendFile(file, lines.map((l) => `${l}\n`).join(''));
        const all = [...this.records].map(([id, r]) => `${JSON.stringify({ id, ...r })}\n`).join('');
        await writeFile(`${file}.tmp`, all);
        await rename(`${file}.tmp`, file);
        this.lines = this.records.size;
      })
      .catch(() => undefined);
  }

  private loaded(): Promise<void> {
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if (isMissing(e)) return;
      throw e;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      this.lines += 1;
      try {
        const { id, forgotten, ...record } = JSON.parse(line) as ChunkRecord & { id: string; forgotten?: boolean };
        if (forgotten) this.records.delete(id);
        else this.records.set(id, record);
      } catch {
        // A line cut short by a crash: the chunks it named are checked again when next met.
      }
    }
  }
}
