// The load side of bench/placement.ts, run as a separate process (child_process.fork): `clients`
// concurrent loops POSTing allocate / allocateMany mutations over keep-alive HTTP connections (one
// per loop, node:http with a keep-alive agent: the cheapest client per request, so the clients
// take as little of the machine's 2 cores from the gateway and PostgreSQL as a client can).
// It imports nothing of the gateway, so it starts in a few milliseconds.
import { fork } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

const GiB = 2 ** 30;

/** What the parent asks a client process to send. */
export interface ClientJob {
  kind: 'batch' | 'single';
  url: string;
  token: string;
  tenants: string[];
  /** Index of the first request (requests are a pure function of their index). */
  from: number;
  count: number;
  clients: number;
  /** Requests per call (1 for single allocate). */
  batch: number;
  /** When set, the loops send until this many seconds have passed (`count` is then ignored). */
  seconds?: number;
  /** When set, every request is this one (instead of the index's `randomRequest`). */
  request?: ReturnType<typeof randomRequest>;
  /** When set, every request asks for a lease of this many seconds. */
  leaseSeconds?: number;
}

/** What a client process reports: placed and refused (by error code) items, each call's latency in ms. */
export interface ClientReport {
  placed: number;
  refused: Record<string, number>;
  latencies: number[];
  seconds: number;
  /** CPU time (user + system) of the client process during the job, in ms. */
  cpuMs: number;
}

/** The i-th request of a tenant mix: 1–2 cores, 1–2 GiB, a technology preference or none, 10% guaranteed. */
export function randomRequest(tenants: string[], i: number): { groupId: string; guarantee: 'GUARANTEED' | 'BEST_EFFORT'; resources: Array<{ type: string; amount: number; unit: string }>; technologies: string[] } {
  const techs = [[], ['docker'], ['lxc', 'docker']][i % 3]!;
  return {
    groupId: tenants[i % tenants.length]!,
    guarantee: i % 10 === 0 ? 'GUARANTEED' : 'BEST_EFFORT',
    resources: [
      { type: 'CPU', amount: 1 + (i % 2), unit: 'CORES' },
      { type: 'RAM', amount: (1 + ((i >> 1) % 2)) * GiB, unit: 'BYTES' },
    ],
    technologies: techs,
  };
}

type Reply = { data?: { allocateMany?: Array<{ error: { code: string } | null }> }; errors?: Array<{ extensions?: { code?: string } }> };

/** POSTs one JSON body on a keep-alive connection and parses the JSON reply. */
function post(url: URL, agent: Agent, token: string, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Reply);
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: not JSON (${(e as Error).message})`));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs the job: `clients` concurrent loops sending its requests, `batch` per call. */
export async function runJob(job: ClientJob): Promise<ClientReport> {
  const report: ClientReport = { placed: 0, refused: {}, latencies: [], seconds: 0, cpuMs: 0 };
  const cpuBefore = process.cpuUsage();
  const query = job.kind === 'batch' ? 'mutation ($r: [AllocationRequestInput!]!) { allocateMany(requests: $r) { error { code } } }' : 'mutation ($r: AllocationRequestInput!) { allocate(request: $r) { id } }';
  const url = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.clients });
  let next = 0;
  const started = performance.now();
  const until = job.seconds === undefined ? undefined : started + job.seconds * 1000;
  const more = () => (until === undefined ? next < job.count : performance.now() < until);
  await Promise.all(
    Array.from({ length: job.clients }, async () => {
      while (more()) {
        const from = next;
        next = until === undefined ? Math.min(job.count, next + job.batch) : next + job.batch;
        const requests = Array.from({ length: next - from }, (_, k) => {
          const request = job.request ?? randomRequest(job.tenants, job.from + from + k);
          return job.leaseSeconds === undefined ? request : { ...request, leaseSeconds: job.leaseSeconds };
        });
        const body = JSON.stringify({ query, variables: { r: job.kind === 'batch' ? requests : requests[0] } });
        const t0 = performance.now();
        const reply = await post(url, agent, job.token, body);
        report.latencies.push(performance.now() - t0);
        const codes = job.kind === 'batch' ? (reply.data?.allocateMany ?? requests.map(() => ({ error: { code: reply.errors?.[0]?.extensions?.code ?? 'ERROR' } }))).map((i) => i.error?.code) : [reply.errors?.[0]?.extensions?.code];
        for (const code of codes) {
          if (code) report.refused[code] = (report.refused[code] ?? 0) + 1;
          else report.placed++;
        }
      }
    }),
  );
  report.seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  report.cpuMs = (cpu.user + cpu.system) / 1000;
  agent.destroy();
  return report;
}

/** Runs a job's clients in a child process and waits for its report. */
export function runClients(job: ClientJob): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (report) => {
      resolve(report as ClientReport);
      child.disconnect();
    });
    child.once('error', reject);
    child.once('exit', (code) => (code ? reject(new Error(`client process exited with ${code}`)) : undefined));
    child.send(job);
  });
}

if (require.main === module) {
  process.once('message', (job) => void runJob(job as ClientJob).then((report) => process.send!(report)));
}
