import { Worker } from 'node:worker_threads';

/** Bytes copied into one batch before it goes to the hashing thread. */
const BATCH_BYTES = 1024 * 1024;

/**
 * The hashing thread's code (plain JavaScript, so it runs the same from dist/ and under jest).
 * Per job: the sha256 of the whole stream and the id hash of each chunk (sha256, or HMAC-SHA256
 * when the job has a key); a batch comes with the offsets where chunks end in it and goes back,
 * transferred, with the ids of those chunks.
 */
const HASHING_THREAD = `
const { parentPort } = require('node:worker_threads');
const { createHash, createHmac } = require('node:crypto');
const jobs = new Map();
const chunkHash = (key) => (key ? createHmac('sha256', key) : createHash('sha256'));
parentPort.on('message', (m) => {
  if (m.type === 'start') {
    jobs.set(m.job, { key: m.key, whole: createHash('sha256'), chunk: chunkHash(m.key) });
    return;
  }
  const job = jobs.get(m.job);
  if (!job) return;
  if (m.type === 'cancel') {
    jobs.delete(m.job);
  } else if (m.type === 'end') {
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, digest: job.whole.digest('hex') });
  } else {
    const bytes = new Uint8Array(m.buffer, 0, m.length);
    job.whole.update(bytes);
    const ids = [];
    let start = 0;
    for (const cut of m.cuts) {
      job.chunk.update(bytes.subarray(start, cut));
      ids.push(job.chunk.digest('hex'));
      job.chunk = chunkHash(job.key);
      start = cut;
    }
    if (start < m.length) job.chunk.update(bytes.subarray(start));
    parentPort.postMessage({ job: m.job, buffer: m.buffer, length: m.length, cuts: m.cuts, ids }, [m.buffer]);
  }
});
`;

/**
 * Called for each chunk, in stream order: its bytes (views of the hasher's batch buffers), its id,
 * and the function to call once the bytes are no longer needed (the buffers are then reused).
 */
export type ChunkReceiver = (parts: Buffer[], id: string, release: () => void) => void;

/** A batch buffer back from the thread, reused once no chunk uses it any more. */
interface BatchSlot {
  buffer: ArrayBuffer;
  refs: number;
}

/** Batch buffers a hasher keeps for reuse (fresh ones cost page faults and garbage collection). */
const POOL_BUFFERS = 24;

interface BatchReply {
  job: number;
  buffer?: ArrayBuffer;
  length?: number;
  cuts?: number[];
  ids?: string[];
  digest?: string;
}

/**
 * How long the hashing thread stays up with no job before it ends (a later put starts a new one):
 * a burst of puts shares one thread, and an idle process keeps none. Idle threads left running add
 * up where each module registry makes its own (a jest worker: one per test file) and make the
 * process's exit slow (each thread's isolate is torn down in turn).
 */
const IDLE_MS = 2_000;

/** Hashing threads of this module that have not exited yet (the current one, and any still ending). */
let threadsUp = 0;

/** How many hashing threads of this module are up (at most one once those retired have ended). */
export function hashingThreadsUp(): number {
  return threadsUp;
}

/** The one hashing thread of the process, shared by every put; referenced only while a job runs, ended once idle. */
class HashingThread {
  private static current: HashingThread | undefined;

  static get(): HashingThread {
    HashingThread.current ??= new HashingThread();
    return HashingThread.current;
  }

  private readonly worker: Worker;
  private readonly jobs = new Map<number, ChunkHasher>();
  private nextJob = 1;
  private idle: NodeJS.Timeout | undefined;

  private constructor() {
    this.worker = new Worker(HASHING_THREAD, { eval: true });
    threadsUp += 1;
    this.worker.once('exit', () => {
      threadsUp -= 1;
    });
    this.worker.unref();
    this.worker.on('message', (m: BatchReply) => this.jobs.get(m.job)?.receive(m));
    const fail = (error: unknown): void => {
      this.retire();
      const jobs = [...this.jobs.values()];
      this.jobs.clear();
      for (const job of jobs) job.fail(error instanceof Error ? error : new Error(`the hashing thread stopped (${String(error)})`));
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the hashing thread exited with code ${code}`)));
  }

  start(hasher: ChunkHasher, key: Buffer | null): number {
    const job = this.nextJob;
    this.nextJob += 1;
    clearTimeout(this.idle);
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(job, hasher);
    this.worker.postMessage({ type: 'start', job, key });
    return job;
  }

  post(message: object, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  finish(job: number): void {
    if (!this.jobs.delete(job)) return;
    if (this.jobs.size > 0) return;
    this.worker.unref();
    this.idle = setTimeout(() => {
      if (this.jobs.size > 0) return;
      this.retire();
      void this.worker.terminate();
    }, IDLE_MS);
    this.idle.unref();
  }

  /** Takes no more jobs: the next put starts a new thread. */
  private retire(): void {
    clearTimeout(this.idle);
    if (HashingThread.current === this) HashingThread.current = undefined;
  }
}

/**
 * Hashes a stream and its chunks on a worker thread, so that hashing (two passes over every byte:
 * the whole stream and each chunk) runs on another core than the reading, chunking and writing.
 * `write` copies the bytes into 1 MiB batches with the chunk ends found in them; as batches come
 * back, in order, each chunk goes to `onChunk` with its id (sha256, or HMAC-SHA256 under `key`)
 * and its bytes, views of the batch buffers, which are reused once every chunk in them is
 * released. `end` resolves to the sha256 of the whole stream once every chunk was passed on.
 */
export class ChunkHasher {
  /** Bytes sent to the thread and not back yet. */
  outstanding = 0;
  /** Set when hashing failed (the thread died, or `onChunk` threw). */
  failure: Error | undefined;
  private readonly thread: HashingThread;
  private readonly job: number;
  private batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  private filled = 0;
  private cuts: number[] = [];
  private waiters: Array<() => void> = [];
  private ending: { resolve(digest: string): void; reject(e: Error): void } | undefined;
  private done = false;
  private readonly pool: ArrayBuffer[] = [];
  /** The parts of the chunk not ended yet, and the batches they are in. */
  private carry: Buffer[] = [];
  private carrySlots: BatchSlot[] = [];

  constructor(
    key: Buffer | null,
    private readonly onChunk: ChunkReceiver,
  ) {
    this.thread = HashingThread.get();
    this.job = this.thread.start(this, key);
  }

  /** Adds `bytes` (copied), in which chunks end at `cuts` (offsets in `bytes`). */
  write(bytes: Uint8Array, cuts: readonly number[]): void {
    if (this.failure) throw this.failure;
    if (this.filled + bytes.length > this.batch.length) {
      this.post();
      if (bytes.length > this.batch.length) this.batch = Buffer.allocUnsafeSlow(bytes.length);
    }
    this.batch.set(bytes, this.filled);
    for (const cut of cuts) this.cuts.push(this.filled + cut);
    this.filled += bytes.length;
    if (this.filled >= BATCH_BYTES) this.post();
  }

  /** Resolves once at most `bytes` are out at the thread (or hashing failed). */
  async caughtUp(bytes: number): Promise<void> {
    while (this.outstanding > bytes && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Ends the stream (`lastChunk`: the bytes after the last cut make a chunk); resolves to the sha256 of the whole. */
  end(lastChunk: boolean): Promise<string> {
    if (this.failure || this.done) return Promise.reject(this.failure ?? new Error('the hashing job was cancelled'));
    if (lastChunk) this.cuts.push(this.filled);
    this.post();
    return new Promise<string>((resolve, reject) => {
      this.ending = { resolve, reject };
      this.thread.post({ type: 'end', job: this.job });
    });
  }

  /** Drops the job (after a failure or once ended). */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.thread.post({ type: 'cancel', job: this.job });
    this.thread.finish(this.job);
  }

  /** A reply of the thread for this job. */
  receive(reply: BatchReply): void {
    if (this.done || this.failure) return;
    if (reply.digest !== undefined) {
      this.done = true;
      this.thread.finish(this.job);
      this.ending?.resolve(reply.digest);
      return;
    }
    this.outstanding -= reply.length!;
    try {
      this.split(reply.buffer!, reply.length!, reply.cuts!, reply.ids!);
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
      this.cancel();
      return;
    }
    this.wake();
  }

  /** Hashing stopped: `failure` is set, waiters wake and `end` rejects (`cancel` still drops the job). */
  fail(error: Error): void {
    this.failure ??= error;
    this.ending?.reject(this.failure);
    this.wake();
  }

  /** Passes on the chunks that end in a batch; keeps the bytes after its last cut for the next. */
  private split(buffer: ArrayBuffer, length: number, cuts: number[], ids: string[]): void {
    const slot: BatchSlot = { buffer, refs: 1 };
    const bytes = Buffer.from(buffer, 0, length);
    let start = 0;
    for (let i = 0; i < cuts.length; i += 1) {
      const cut = cuts[i]!;
      if (cut > start) this.keep(slot, bytes.subarray(start, cut));
      const slots = this.carrySlots;
      const parts = this.carry;
      this.carry = [];
      this.carrySlots = [];
      let released = false;
      this.onChunk(parts, ids[i]!, () => {
        if (released) return;
        released = true;
        for (const s of slots) this.unref(s);
      });
      start = cut;
    }
    if (start < length) this.keep(slot, bytes.subarray(start));
    this.unref(slot);
  }

  private keep(slot: BatchSlot, part: Buffer): void {
    slot.refs += 1;
    this.carry.push(part);
    this.carrySlots.push(slot);
  }

  private unref(slot: BatchSlot): void {
    slot.refs -= 1;
    if (slot.refs === 0 && slot.buffer.byteLength === BATCH_BYTES && this.pool.length < POOL_BUFFERS) this.pool.push(slot.buffer);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private post(): void {
    if (this.filled === 0 && this.cuts.length === 0) return;
    const buffer = this.batch.buffer;
    this.thread.post({ type: 'batch', job: this.job, buffer, length: this.filled, cuts: this.cuts }, [buffer as ArrayBuffer]);
    this.outstanding += this.filled;
    const reused = this.pool.pop();
    this.batch = reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.filled = 0;
    this.cuts = [];
  }
}
