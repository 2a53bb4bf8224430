// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GraphQLSchema, parse, print, separateOperations, validate } from 'graphql';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { checkOperationLimits, OperationLimitError, OperationLimits, OperationRequest } from '../gateway/limits/operation-limits';
import { RequestLimits } from '../gateway/limits/request-limits';
import { Gateway, startGateway } from '../gateway/server/gateway';
import { clientOperations, committedSchema, measuredBy, tokenCount } from '../test/helpers/client-documents';
import { UNLIMITED } from './unlimited';

/**
 * The operation limits (GraphQL Armor's depth, aliases, tokens and directives; the gateway's
 * list-size cost and batch rule), with the default settings, in one run:
 *
 * 1. the widest of the CLI's and the dashboard's operations (every page at 500) against each default;
 * 2. the CPU of the checks on normal operations, against parsing and validating them (what Apollo
 *    does without limits): a source seen for the first time, and one sent again (kept parsed);
 * 3. the abusive shapes of issue 21, checked in process: the time to the refusal and the limit;
 * 4. over HTTP, one gateway with the default limits and one with them off (PGlite, fake drivers):
 *    the dashboard's *Sites* query, one request at a time (latency p50/mean, ratio), and the
 *    abusive shapes sent to the gateway with limits: the time to its 400.
 *
 * Knobs (environment): BENCH_ITERATIONS (500 checks per figure), BENCH_REQUESTS (1000 per gateway).
 */
const ITERATIONS = Number(process.env.BENCH_ITERATIONS) || 500;
const REQUESTS = Number(process.env.BENCH_REQUESTS) || 1000;

/** The limits turned off (the variables set to 0). */
const LIMITS_OFF: Record<string, string> = {
  RSP_MAX_QUERY_DEPTH: '0',
  RSP_MAX_QUERY_ALIASES: '0',
  RSP_MAX_QUERY_TOKENS: '0',
  RSP_MAX_QUERY_DIRECTIVES: '0',
  RSP_MAX_QUERY_COST: '0',
  RSP_MAX_BATCH_ITEMS: '0',
};

/** The abusive shapes of issue 21. */
function abusiveShapes(): Array<{ label: string; request: OperationRequest }> {
  let tree = 'id name';
  for (let i = 0; i < 20; i++) tree = `id name children { ${tree} effectiveProperties { key value fromLayerId } }`;
  const requests = Array.from({ length: 1000 }, () => ({ groupId: 'g', resources: [{ type: 'CPU', amount: 1 }] }));
  const allocate = (aliases: number) => `mutation ($r: [AllocationRequestInput!]!) { ${Array.from({ length: aliases }, (_, i) => `a${i}: allocateMany(requests: $r) { index error { code } }`).join(' ')} }`;
  return [
    { label: '300 aliases × layer tree 20 deep', request: { source: `query ($id: ID!) { ${Array.from({ length: 300 }, (_, i) => `l${i}: layer(id: $id) { ${tree} }`).join('\n')} }`, variables: { id: 'x' } } },
    { label: '1 layer tree 20 deep', request: { source: `query ($id: ID!) { layer(id: $id) { ${tree} } }`, variables: { id: 'x' } } },
    { label: '400 aliases × groups(first: 500)', request: { source: `{ ${Array.from({ length: 400 }, (_, i) => `g${i}: groups(first: 500) { nodes { id name slug } }`).join(' ')} }` } },
    { label: '40 aliases × groups(first: 500)', request: { source: `{ ${Array.from({ length: 40 }, (_, i) => `g${i}: groups(first: 500) { nodes { id name slug } }`).join(' ')} }` } },
    { label: '50 aliases × allocateMany(1,000 items)', request: { source: allocate(50), variables: { r: requests } } },
    { label: '2 aliases × allocateMany(1,000 items)', request: { source: allocate(2), variables: { r: requests } } },
  ];
}

/** Microseconds of this process's CPU per call of `run` (a warm-up of a tenth first): CPU, not wall time, as other work shares the machine. */
function perCall(run: () => void, iterations = ITERATIONS): number {
  for (let i = 0; i < iterations / 10; i++) run();
  const before = process.cpuUsage();
  for (let i = 0; i < iterations; i++) run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / iterations;
}

/** The limit `request` is refused by (and the message), or 'accepted'. */
function outcome(schema: GraphQLSchema, request: OperationRequest, limits: OperationLimits): string {
  try {
    checkOperationLimits(schema, request, limits);
    return 'accepted';
  } catch (e) {
    if (e instanceof OperationLimitError) return e.message;
    throw e;
  }
}

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function main(): Promise<void> {
  const schema = committedSchema();
  const limits = new RequestLimits(loadConfig({ RSP_DATA_DIR: tmpdir() })).operations;
  console.log(`operation limits bench, load average ${loadavg()[0]!.toFixed(1)}; defaults ${JSON.stringify(limits)}`);

  // 1. The widest client operations, every Int variable (the pages) at 500.
  const operations = clientOperations();
  const widest = { maxDepth: 0, maxAliases: 0, maxDirectives: 0, maxTokens: 0, maxCost: 0 };
  for (const { document, operation } of operations) {
    const variables = Object.fromEntries((operation.variableDefinitions ?? []).filter((v) => /Int/.test(print(v.type))).map((v) => [v.variable.name.value, 500]));
    const source = print(document);
    widest.maxDepth = Math.max(widest.maxDepth, measuredBy(schema, { source }, 'maxDepth'));
    widest.maxAliases = Math.max(widest.maxAliases, measuredBy(schema, { source }, 'maxAliases'));
    widest.maxDirectives = Math.max(widest.maxDirectives, measuredBy(schema, { source }, 'maxDirectives'));
    widest.maxCost = Math.max(widest.maxCost, measuredBy(schema, { source, variables, operationName: operation.name?.value }, 'maxCost'));
    widest.maxTokens = Math.max(widest.maxTokens, tokenCount(source));
  }
  console.log(`\n1. the widest of ${operations.length} client operations (pages at 500) / the default`);
  for (const [limit, value] of Object.entries(widest) as Array<[keyof typeof widest, number]>) {
    console.log(`   ${limit.padEnd(14)} ${String(value).padStart(10)} / ${String(limits[limit]).padStart(10)}   default = ${(limits[limit] / Math.max(1, value)).toFixed(1)}× the widest`);
  }

  // 2. The CPU of the checks on normal operations.
  console.log(`\n2. CPU per operation (µs, ${ITERATIONS} each): parse + validate (what runs without limits) | the limits' checks added, a source seen first | sent again (kept parsed)`);
  for (const name of ['Viewer', 'Sites', 'Environment']) {
    const source = print(separateOperations(operations.find((o) => o.name === name)!.document)[name]!);
    const request = { source, variables: { id: 'x', target: 'x' } };
    const baseline = perCall(() => validate(schema, parse(source)));
    const first = perCall(() => checkOperationLimits(schema, request, limits));
    const known = parse(source);
    const again = perCall(() => checkOperationLimits(schema, request, limits, known));
    console.log(`   ${name.padEnd(12)} ${String(tokenCount(source)).padStart(5)} tokens  ${baseline.toFixed(1).padStart(8)} | ${first.toFixed(1).padStart(8)} (${(first / baseline).toFixed(2)}×) | ${again.toFixed(1).padStart(7)} (${(again / baseline).toFixed(2)}× a parse + validate)`);
  }

  // 3. The abusive shapes, in process.
  const shapes = abusiveShapes();
  console.log('\n3. issue 21 shapes, checked in process (ms of CPU to the answer, mean of 20)');
  for (const { label, request } of shapes) {
    const ms = perCall(() => outcome(schema, request, limits), 20) / 1000;
    console.log(`   ${label.padEnd(40)} ${(request.source.length / 1024).toFixed(0).padStart(4)} KB  ${ms.toFixed(2).padStart(7)} ms CPU  ${outcome(schema, request, limits)}`);
  }

  // 4. Over HTTP: both gateways up at once, their requests in alternating rounds (the machine's load changes over a run).
  const rounds = 10;
  console.log(`\n4. over HTTP, the dashboard's Sites query, ${REQUESTS} requests one at a time to each gateway, in ${rounds} alternating rounds`);
  const sitesBody = JSON.stringify({ query: print(separateOperations(operations.find((o) => o.name === 'Sites')!.document).Sites!) });
  const gateways: Array<{ label: string; dataDir: string; gateway: Gateway; latencies: number[]; cpu: number }> = [];
  try {
    for (const [label, settings] of [
      ['limits off', LIMITS_OFF],
      ['default limits', {}],
    ] as const) {
      const dataDir = await mkdtemp(join(tmpdir(), 'rsp-bench-limits-'));
      const gateway = await startGateway(loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0', LOG_LEVEL: 'silent', ...UNLIMITED, ...settings }), { logger: pino({ level: 'silent' }), setup: false });
      gateways.push({ label, dataDir, gateway, latencies: [], cpu: 0 });
    }
    const post = async (gateway: Gateway, body: string) => {
      const started = performance.now();
      const res = await fetch(gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.bootstrapToken}` }, body });
      const text = await res.text();
      return { status: res.status, text, ms: performance.now() - started };
    };
    for (const g of gateways) for (let i = 0; i < REQUESTS / 10; i++) await post(g.gateway, sitesBody);
    for (let round = 0; round < rounds; round++) {
      for (const g of gateways) {
        const before = process.cpuUsage();
        for (let i = 0; i < REQUESTS / rounds; i++) {
          const r = await post(g.gateway, sitesBody);
          if (r.status !== 200 || r.text.includes('"errors"')) throw new Error(`${g.label}: ${r.status} ${r.text.slice(0, 300)}`);
          g.latencies.push(r.ms);
        }
        const used = process.cpuUsage(before);
        g.cpu += (used.user + used.system) / 1000;
      }
    }
    const figures = gateways.map((g) => {
      const sorted = [...g.latencies].sort((x, y) => x - y);
      const f = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), cpu: g.cpu / sorted.length };
      console.log(`   ${g.label.padEnd(16)} p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms  CPU ${f.cpu.toFixed(3)} ms/request (gateway and client)`);
      return f;
    });
    const [off, on] = figures as [(typeof figures)[0], (typeof figures)[0]];
    console.log(`   default limits / off: p50 ${(on.p50 / off.p50).toFixed(3)}×, p99 ${(on.p99 / off.p99).toFixed(3)}×, CPU ${(on.cpu / off.cpu).toFixed(3)}×`);
    console.log('   issue 21 shapes against the gateway with the default limits (ms to the answer, median of 5; vs the Sites p50)');
    const limited = gateways[1]!.gateway;
    for (const { label, request } of shapes) {
      const body = JSON.stringify({ query: request.source, variables: request.variables });
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await post(limited, body));
      const median = quantile(answers.map((r) => r.ms).sort((x, y) => x - y), 0.5);
      const error = (JSON.parse(answers[0]!.text) as { errors?: Array<{ extensions?: { code?: string; details?: { limit?: string } } }> }).errors?.[0]?.extensions;
      console.log(`     ${label.padEnd(40)} HTTP ${answers[0]!.status} ${error ? `${error.code} ${error.details?.limit ?? ''}` : 'run'}  ${median.toFixed(1).padStart(7)} ms (${(median / on.p50).toFixed(1)}× the Sites p50)`);
    }
  } finally {
    for (const g of gateways) {
      await g.gateway.close();
      await rm(g.dataDir, { recursive: true, force: true });
    }
  }
  console.log(`load average at the end ${loadavg()[0]!.toFixed(1)}`);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
