import type { OperationEntity } from '../gateway/persistence/entities';
import type { GatewayBench } from './gateway-lifecycle';

/** The moments of one lifecycle step through the gateway, in ms (`performance.now()`), with this process's CPU over it. */
interface StepTimes {
  kind: string;
  sent: number;
  /** The environment service has the request (everything before: the client's request, HTTP, GraphQL, the token). */
  served?: number;
  /** The service asks for its operation (everything before: HTTP, GraphQL, reads, checks, the status claim). */
  begun?: number;
  /** The operation's row is written; its work starts. */
  recorded?: number;
  agentStart?: number;
  agentEnd?: number;
  /** Its end (SUCCEEDED…) published on the bus, once written. */
  published?: number;
  /** The client has the mutation's answer. */
  answered?: number;
  /** The client has its end over graphql-ws. */
  delivered?: number;
  cpuStart: NodeJS.CpuUsage;
  cpuMs?: number;
}

const AGENT_CALLS = ['createEnvironment', 'startEnvironment', 'stopEnvironment', 'destroyEnvironment'] as const;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/**
 * Where the wall time of the gateway path goes, step by step: runs `cycles` lifecycles through
 * `bench` with hooks on the operation service (its start and its published end), on the
 * in-process agent's environment calls and on the client's mutation and subscription, and
 * returns the lines to print (mean ms per step kind; `overhead` is the step's time minus the
 * agent call's). The hooks cost a little themselves: these cycles are not the bench's figures.
 */
export async function lifecycleBreakdown(bench: GatewayBench, cycles: number, name: (i: number) => string): Promise<string[]> {
  const { services, agents } = bench.gateway;
  const operations = services.operations;
  const agent = agents.local as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const steps: StepTimes[] = [];
  const current = () => steps[steps.length - 1];
  const byOperation = new Map<string, StepTimes>();
  const kinds = ['create', 'start', 'stop', 'destroy'];

  const environments = services.environments;
  const create = environments.create.bind(environments);
  const act = environments.act.bind(environments);
  environments.create = (...args) => {
    const step = current();
    if (step) step.served = performance.now();
    return create(...args);
  };
  environments.act = (...args) => {
    const step = current();
    if (step) step.served = performance.now();
    return act(...args);
  };
  const start = operations.start.bind(operations);
  operations.start = async (...args) => {
    const step = current();
    if (step) step.begun = performance.now();
    const op = await start(...args);
    if (step) {
      step.recorded = performance.now();
      byOperation.set(op.id, step);
    }
    return op;
  };
  const publish = (operations as unknown as { publish(op: OperationEntity): void }).publish.bind(operations);
  (operations as unknown as { publish(op: OperationEntity): void }).publish = (op) => {
    const step = byOperation.get(op.id);
    if (step && TERMINAL.has(op.state)) step.published = performance.now();
    publish(op);
  };
  const originals = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  for (const call of AGENT_CALLS) {
    const original = agent[call]!.bind(agent);
    originals.set(call, agent[call]!);
    agent[call] = async (...args: unknown[]) => {
      const step = current();
      if (step) step.agentStart = performance.now();
      try {
        return await original(...args);
      } finally {
        if (step) step.agentEnd = performance.now();
      }
    };
  }
  bench.trace = (event, operationId) => {
    const now = performance.now();
    if (event === 'sent') {
      steps.push({ kind: kinds[steps.length % kinds.length]!, sent: now, cpuStart: process.cpuUsage() });
      return;
    }
    const step = event === 'answered' ? current() : byOperation.get(operationId!);
    if (!step) return;
    if (event === 'answered') step.answered = now;
    else {
      step.delivered = now;
      const cpu = process.cpuUsage(step.cpuStart);
      step.cpuMs = (cpu.user + cpu.system) / 1000;
    }
  };
  try {
    for (let i = 0; i < cycles; i++) await bench.cycle(name(i));
  } finally {
    bench.trace = undefined;
    // The wrappers are own properties over the prototypes' methods: deleting them brings the methods back.
    for (const [object, method] of [[operations, 'start'], [operations, 'publish'], [environments, 'create'], [environments, 'act']] as const) delete (object as unknown as Record<string, unknown>)[method];
    for (const [call, original] of originals) agent[call] = original;
  }

  const mean = (of: StepTimes[], f: (s: StepTimes) => number | undefined) => {
    const values = of.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
  };
  const columns: Array<[string, (s: StepTimes) => number | undefined]> = [
    ['to service', (s) => s.served! - s.sent],
    ['service', (s) => s.begun! - s.served!],
    ['op row', (s) => s.recorded! - s.begun!],
    ['to agent', (s) => s.agentStart! - s.recorded!],
    ['agent', (s) => s.agentEnd! - s.agentStart!],
    ['end written', (s) => s.published! - s.agentEnd!],
    ['delivered', (s) => s.delivered! - s.published!],
    ['answered', (s) => s.answered! - s.sent],
    ['total', (s) => s.delivered! - s.sent],
    ['overhead', (s) => s.delivered! - s.sent - (s.agentEnd! - s.agentStart!)],
    ['CPU', (s) => s.cpuMs],
  ];
  const lines = [`  breakdown over ${cycles} more cycles (mean ms per step; overhead = total − agent call):`, `    ${'step'.padEnd(8)}${columns.map(([c]) => c.padStart(12)).join('')}`];
  for (const kind of [...kinds, 'all']) {
    const of = kind === 'all' ? steps : steps.filter((s) => s.kind === kind);
    const sum = kind === 'all';
    lines.push(`    ${(sum ? 'lifecycle' : kind).padEnd(8)}${columns.map(([, f]) => (mean(of, f) * (sum ? kinds.length : 1)).toFixed(1).padStart(12)).join('')}`);
  }
  return lines;
}
