// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ArtifactStore } from '../gateway/artifacts/artifact-store';
import type { PutResult } from '../gateway/artifacts/artifact-store';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyArtifact } from '../gateway/artifacts/chunk-copy';
import { loadConfig } from '../gateway/config/config';
import { StoreChunkTransport } from '../gateway/artifacts/store-chunk-transport';
import type { ScrubPace } from '../gateway/artifacts/read-pacer';
import { changeTree, exited, generateTree, spawnTar, tarIntoSha256sum } from './replication-tree';
import type { BenchTree } from './replication-tree';

/**
 * Replication benchmark (issue 11), artifact store part: in one run, on one generated tree,
 * (a) `tar -cf - -C tree . | sha256sum` (the baseline: read and hash every byte once) and
 * (b) `tar -cf - -C tree .` into `ArtifactStore.put` of a fresh store (chunk, hash, dedup, write);
 * MiB/s of both and the ratio (goal ≥ 0.8). Then ~1% of the tree is changed in place and put
 * again into each store: the new bytes of that second put as a share of the first (goal < 2%).
 * Timed parts run BENCH_RUNS times (3), interleaved, in an order that alternates from run to run;
 * medians are reported. The verify section runs BENCH_VERIFY_RUNS rounds (5) after a warm-up round.
 *
 * Knobs (environment): BENCH_TREE_MIB (256), BENCH_RUNS (3), BENCH_VERIFY_RUNS (5),
 * BENCH_CHANGE_PERCENT (1), BENCH_SECTIONS (`put,verify`: which sections run),
 * BENCH_DIR (a temporary directory, removed at the end).
 *
 * More sections (failover, migration) add a function of the same shape as `storeThroughput` and a
 * call in `main`; the tree helpers live in replication-tree.ts.
 */
const TREE_MIB = num('BENCH_TREE_MIB', 256);
const RUNS = num('BENCH_RUNS', 3);
const VERIFY_RUNS = num('BENCH_VERIFY_RUNS', 5);
const SECTIONS = (process.env.BENCH_SECTIONS ?? 'put,verify').split(',');
const CHANGE_PERCENT = num('BENCH_CHANGE_PERCENT', 1);
const MiB = 1024 * 1024;
const GOAL_RATIO = 0.8;
const GOAL_DELTA_PERCENT = 2;

function num(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function line(label: string, value: string, goal?: string, ok?: boolean): void {
  console.log(`${label.padEnd(50)} ${value.padStart(14)}${goal ? `   goal ${goal}${ok === undefined ? '' : ok ? '  ✓' : '  ✗'}` : ''}`);
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

/** `tar` of the tree straight into a put. */
async function tarIntoStore(store: ArtifactStore, dir: string, labels: Record<string, string>): Promise<PutResult> {
  const tar = spawnTar(dir);
  const [result] = await Promise.all([store.put(tar.stdout, { labels }), exited(tar, 'tar')]);
  return result;
}

/** Sections (a) and (b) and the second put after a change; resolves to whether every goal was met. */
async function storeThroughput(tree: BenchTree, work: string): Promise<boolean> {
  const baseline: number[] = [];
  const ours: number[] = [];
  const oursCpu: number[] = [];
  const stores: Array<{ store: ArtifactStore; first: PutResult }> = [];
  let digest = '';
  await tarIntoSha256sum(tree.dir);
  for (let run = 0; run < RUNS; run += 1) {
    // Odd runs put first: neither side always follows the other (page cache, GC, CPU frequency).
    const sum = () => timed(() => tarIntoSha256sum(tree.dir));
    const early = run % 2 ? undefined : await sum();
    const store = ArtifactStore.inDirectory(join(work, `store-${run}`));
    const cpu = process.cpuUsage();
    const b = await timed(() => tarIntoStore(store, tree.dir, { run: String(run) }));
    const used = process.cpuUsage(cpu);
    const a = early ?? (await sum());
    baseline.push(a.ms);
    digest = a.value;
    ours.push(b.ms);
    oursCpu.push((used.user + used.system) / 1000);
    if (b.value.manifest.sha256 !== digest) throw new Error(`the store saw other bytes than sha256sum (${b.value.manifest.sha256} ≠ ${digest})`);
    stores.push({ store, first: b.value });
    console.log(`  run ${run + 1}${early ? '' : ' (put first)'}: tar|sha256sum ${a.ms.toFixed(0)} ms, tar→put ${b.ms.toFixed(0)} ms (${b.value.stats.chunks} chunks)`);
  }
  const archive = stores[0]!.first.stats.bytes;
  const baselineRate = archive / MiB / (median(baseline) / 1000);
  const oursRate = archive / MiB / (median(ours) / 1000);
  const ratio = oursRate / baselineRate;

  const changed = await changeTree(tree, CHANGE_PERCENT / 100);
  const second: number[] = [];
  const deltas: number[] = [];
  for (const { store, first } of stores) {
    const again = await timed(() => tarIntoStore(store, tree.dir, { run: 'changed' }));
    second.push(again.ms);
    deltas.push((again.value.stats.newBytes / first.stats.newBytes) * 100);
    if (!(await store.verify(again.value.manifest.id)).ok) throw new Error('the second artifact does not verify');
  }
  const delta = median(deltas);

  line('tree', `${(tree.bytes / MiB).toFixed(0)} MiB`);
  line('files', String(tree.files.length));
  line('tar archive', `${(archive / MiB).toFixed(1)} MiB`);
  line('(a) tar | sha256sum (baseline), median', `${baselineRate.toFixed(0)} MiB/s`);
  line('(b) tar → ArtifactStore.put, median', `${oursRate.toFixed(0)} MiB/s`);
  line('ratio (b)/(a)', ratio.toFixed(2), `≥ ${GOAL_RATIO}`, ratio >= GOAL_RATIO);
  line('(b) CPU time of this process (all threads), median', `${median(oursCpu).toFixed(0)} ms`);
  line(`bytes changed in place (${CHANGE_PERCENT}% asked)`, `${((changed / tree.bytes) * 100).toFixed(2)} %`);
  const secondRate = archive / MiB / (median(second) / 1000);
  line('second put after the change (writes ~1%), median', `${secondRate.toFixed(0)} MiB/s`);
  line('ratio second put/(a)', (secondRate / baselineRate).toFixed(2));
  line('second put: new bytes / first put new bytes', `${delta.toFixed(2)} %`, `< ${GOAL_DELTA_PERCENT} %`, delta < GOAL_DELTA_PERCENT);
  return ratio >= GOAL_RATIO && delta < GOAL_DELTA_PERCENT;
}

/**
 * Verify jobs (issue 23): (c) `sha256sum` of a store's pack files (the stored bytes) vs
 * `ArtifactStore.scrub` of the artifact in them (re-hash every chunk once), same run:
 * (d) with the default settings — adaptive pacing (read-pacer.ts) unless
 * `RSP_REPLICA_VERIFY_BYTES_PER_SECOND` is set — and (e) unthrottled (0), what the verify path
 * itself costs. After a warm-up round (not counted), each round runs the three once, the order
 * rotating from round to round so that each takes each place equally often; a round's ratio is
 * (c)'s time over (d)'s (or (e)'s) in that round, and the figure (goal ≥ 0.8) is the median of
 * the rounds' ratios. Then a copy to a second store and a copy again with nothing changed: the
 * share of the artifact's bytes the second copy reads from the target store (goal < 1 %).
 */
async function verifyJobs(tree: BenchTree, work: string): Promise<boolean> {
  const store = ArtifactStore.inDirectory(join(work, 'verify-store'));
  const { manifest } = await tarIntoStore(store, tree.dir, { run: 'verify' });
  const sum = () => promisify(execFile)('sh', ['-c', `find "${join(work, 'verify-store', 'packs')}" -name '*.pack' -print0 | xargs -0 sha256sum > /dev/null`]);
  const config = loadConfig({ ...process.env });
  const limit = config.replicaVerifyBytesPerSecond;
  const defaultPace: ScrubPace = limit === undefined ? { floorBytesPerSecond: config.replicaVerifyFloorBytesPerSecond } : { bytesPerSecond: limit };
  let bytes = 0;
  const scrub = async (pace: ScrubPace) => {
    const report = await store.scrub(manifest.id, { pace });
    if (!report.ok) throw new Error('the verify job found damage in a fresh store');
    bytes = report.bytes;
  };
  const phases = { sum: async () => void (await sum()), default: () => scrub(defaultPace), unthrottled: () => scrub({ bytesPerSecond: 0 }) };
  type Phase = keyof typeof phases;
  const names = Object.keys(phases) as Phase[];
  const times: Record<Phase, number[]> = { sum: [], default: [], unthrottled: [] };
  const defaultRatios: number[] = [];
  const unthrottledRatios: number[] = [];
  for (let round = 0; round <= VERIFY_RUNS; round += 1) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    const ms = {} as Record<Phase, number>;
    for (const phase of order) ms[phase] = (await timed(phases[phase])).ms;
    const load = loadavg()[0]!.toFixed(1);
    if (round === 0) {
      console.log(`  warm-up: ${order.map((p) => `${p} ${ms[p].toFixed(0)} ms`).join(', ')} (not counted)`);
      continue;
    }
    for (const phase of names) times[phase].push(ms[phase]);
    defaultRatios.push(ms.sum / ms.default);
    unthrottledRatios.push(ms.sum / ms.unthrottled);
    console.log(
      `  round ${round} (${order.join(' → ')}): sha256sum ${ms.sum.toFixed(0)} ms, verify at the default settings ${ms.default.toFixed(0)} ms (${(ms.sum / ms.default).toFixed(2)}×), unthrottled ${ms.unthrottled.toFixed(0)} ms (${(ms.sum / ms.unthrottled).toFixed(2)}×), load average ${load}`,
    );
  }
  const rate = (phase: Phase) => bytes / MiB / (median(times[phase]) / 1000);
  const ratio = median(defaultRatios);
  const unthrottledRatio = median(unthrottledRatios);

  const target = ArtifactStore.inDirectory(join(work, 'verify-target'));
  await copyArtifact(new StoreChunkTransport(store), new StoreChunkTransport(target), manifest.id);
  let read = 0;
  const get = target.backend.get.bind(target.backend);
  target.backend.get = async (kind, id) => {
    const out = await get(kind, id);
    read += out.length;
    return out;
  };
  const again = await copyArtifact(new StoreChunkTransport(store), new StoreChunkTransport(target), manifest.id);
  const share = (read / manifest.size) * 100;

  line('(c) sha256sum of the pack files (baseline), median', `${rate('sum').toFixed(0)} MiB/s`);
  const paced = limit === undefined ? `adaptive, floor ${(config.replicaVerifyFloorBytesPerSecond / MiB).toFixed(0)} MiB/s` : limit ? `${(limit / MiB).toFixed(0)} MiB/s limit` : 'no limit';
  line(`(d) verify job, default settings (${paced}), median`, `${rate('default').toFixed(0)} MiB/s`);
  line(`ratio (d)/(c), median of ${VERIFY_RUNS} rounds`, ratio.toFixed(2), `≥ ${GOAL_RATIO}`, ratio >= GOAL_RATIO);
  line('(e) verify job, unthrottled (limit 0), median', `${rate('unthrottled').toFixed(0)} MiB/s`);
  line(`ratio (e)/(c), median of ${VERIFY_RUNS} rounds`, unthrottledRatio.toFixed(2), `≥ ${GOAL_RATIO}`, unthrottledRatio >= GOAL_RATIO);
  line('machine: cores, load average (1 min)', `${cpus().length}, ${loadavg()[0]!.toFixed(1)}`);
  line('unchanged second copy: chunks reused / written / repaired', `${again.counts.reusedChunks} / ${again.counts.writtenChunks} / ${again.counts.repairedChunks}`);
  line('unchanged second copy: bytes read from the target store', `${read} of ${manifest.size} (${share.toFixed(3)} %)`, '< 1 %', share < 1);
  return ratio >= GOAL_RATIO && share < 1;
}

async function main(): Promise<void> {
  const work = process.env.BENCH_DIR ?? (await mkdtemp(join(tmpdir(), 'rsp-bench-replication-')));
  try {
    console.log(`Generating a ${TREE_MIB} MiB tree in ${work} …`);
    const tree = await generateTree(join(work, 'tree'), TREE_MIB * MiB);
    let ok = true;
    if (SECTIONS.includes('put')) {
      console.log(`Artifact store throughput and dedup (${RUNS} runs each):`);
      ok = await storeThroughput(tree, work);
    }
    let verified = true;
    if (SECTIONS.includes('verify')) {
      console.log(`Verify jobs and reuse (${VERIFY_RUNS} rounds):`);
      verified = await verifyJobs(tree, work);
    }
    process.exitCode = ok && verified ? 0 : 1;
  } finally {
    if (!process.env.BENCH_DIR) await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
