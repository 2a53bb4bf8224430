// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { startGateway } from '../gateway/server/gateway';
import { UNLIMITED } from './unlimited';

/**
 * The cost of one small GraphQL request (`{ __typename }`, authenticated) on each of the gateway's
 * two HTTP paths, in one run on one gateway: the fast path (a JSON POST straight from Node's HTTP
 * server to Apollo) against the express route it replaced for those requests (the same POST with
 * a content type the fast path leaves to express). Reports requests/s, p50/p99 and the gateway's
 * CPU per request of each, and the ratio. Clients run in a separate process, over keep-alive.
 *
 * Knobs (environment): BENCH_REQUESTS (20000 per path), BENCH_CLIENTS (20).
 */
const REQUESTS = Number(process.env.BENCH_REQUESTS) || 20_000;
const CLIENTS = Number(process.env.BENCH_CLIENTS) || 20;
const CLIENT_ARG = '--clients';

/** What the client process is asked to send, and what it reports. */
interface Job {
  url: string;
  token: string;
  contentType: string;
  count: number;
}
interface Report {
  seconds: number;
  latencies: number[];
  failures: number;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-post-'));
  const gateway = await startGateway(loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0', LOG_LEVEL: 'silent', ...UNLIMITED }), { logger: pino({ level: 'silent' }), setup: false });
  const child = fork(__filename, [CLIENT_ARG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const send = (job: Job) =>
    new Promise<Report>((resolve, reject) => {
      child.once('message', (r) => resolve(r as Report));
      child.once('error', reject);
      child.send(job);
    });
  try {
    console.log(`GraphQL POST paths: { __typename }, ${REQUESTS} requests each, ${CLIENTS} clients`);
    const paths = [
      { label: 'fast path (application/json)', contentType: 'application/json' },
      { label: 'express route (application/json; v=1)', contentType: 'application/json; v=1' },
    ];
    const results: Array<{ label: string; rate: number; cpu: number }> = [];
    for (const path of paths) {
      // A warm-up round of each, then the measured one.
      await send({ url: gateway.graphqlUrl, token: gateway.bootstrapToken!, contentType: path.contentType, count: 2000 });
      const cpuBefore = process.cpuUsage();
      const report = await send({ url: gateway.graphqlUrl, token: gateway.bootstrapToken!, contentType: path.contentType, count: REQUESTS });
      const cpu = process.cpuUsage(cpuBefore);
      if (report.failures) throw new Error(`${path.label}: ${report.failures} requests failed`);
      const sorted = report.latencies.sort((a, b) => a - b);
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(1);
      const rate = REQUESTS / report.seconds;
      const cpuMs = (cpu.user + cpu.system) / 1000 / REQUESTS;
      results.push({ label: path.label, rate, cpu: cpuMs });
      console.log(`${path.label.padEnd(40)} ${rate.toFixed(0).padStart(7)} req/s   p50 ${at(0.5)} ms   p99 ${at(0.99)} ms   gateway CPU ${cpuMs.toFixed(3)} ms/request`);
    }
    const [fast, express] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(`fast path / express route: ${(fast.rate / express.rate).toFixed(2)}× the requests/s, ${(fast.cpu / express.cpu).toFixed(2)} of the CPU per request`);
  } finally {
    child.disconnect();
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The client process: `CLIENTS` loops over keep-alive connections, `count` requests in all. */
async function clients(job: Job): Promise<Report> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const url = new URL(job.url);
  const body = JSON.stringify({ query: '{ __typename }' });
  const report: Report = { seconds: 0, latencies: [], failures: 0 };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next++ < job.count) {
        const t0 = performance.now();
        const ok = await new Promise<boolean>((resolve) => {
          const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': job.contentType, 'content-length': Buffer.byteLength(body), authorization: `Bearer ${job.token}` } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(res.statusCode === 200 && Buffer.concat(chunks).toString().includes('"Query"')));
          });
          req.on('error', () => resolve(false));
          req.end(body);
        });
        report.latencies.push(performance.now() - t0);
        if (!ok) report.failures++;
      }
    }),
  );
  report.seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return report;
}

if (process.argv[2] === CLIENT_ARG) {
  process.on('message', (job) => void clients(job as Job).then((r) => process.send!(r)));
} else {
  void main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
