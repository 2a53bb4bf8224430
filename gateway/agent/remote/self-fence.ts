import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logging/logger';
import type { HostAgent } from '../host-agent';
import type { FencedEnvironment } from '../protocol';
import type { AgentLease } from './agent-lease';

/** Options of a `SelfFence`. */
export interface SelfFenceOptions {
  /** How long before its lease ends the agent starts stopping its environments (ms). */
  leadMs: number;
  /** How often the lease is looked at (ms). */
  checkMs: number;
}

/** The file, in the agent's data directory, of the environments it fenced and has not reported yet. */
export const FENCED_FILE = 'fenced-environments.json';

/**
 * Self-fencing, as Proxmox HA's watchdog does it for HA-managed resources: an agent whose lease is
 * about to end without renewal (it cannot reach the gateway) stops — kills, no grace — the
 * environments its engines run that the gateway would fail over (`scope`, from each heartbeat
 * answer), before the lease ends and so before the gateway may declare its host DOWN and start
 * them elsewhere. Every other environment keeps running: nothing else can run twice, and a gateway
 * that is down or restarting must not stop them. An agent never told a set fences nothing: the
 * gateway cannot have failed over anything it did not name to it. It logs each, and remembers them in its data directory (a restart of the agent
 * keeps the list) until the gateway acknowledges its report (`pending`, `acknowledge`). It fences
 * once per lost lease; a renewed lease arms it again.
 */
export class SelfFence {
  private timer: NodeJS.Timeout | undefined;
  private fencing: Promise<void> | undefined;
  /** The lease end that was fenced already (not again until a later one is granted and lost). */
  private fencedLease: number | undefined;
  private fenced: FencedEnvironment[] | undefined;
  /** Ids of the environments the gateway would fail over (its last heartbeat answer); empty until told. */
  private failover: ReadonlySet<string> = new Set();

  constructor(
    private readonly agent: HostAgent,
    private readonly lease: AgentLease,
    private readonly dataDir: string,
    private readonly logger: Logger,
    private readonly options: SelfFenceOptions,
  ) {}

  /** Watches the lease every `checkMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.options.checkMs);
    this.timer.unref();
  }

  /** Stops watching and waits for a fencing under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.fencing;
  }

  /** Fences now when the lease is within `leadMs` of its end (or past it) and was not fenced yet; resolves when done. */
  check(now = Date.now()): Promise<void> {
    const until = this.lease.until;
    if (this.fencing) return this.fencing;
    if (until === undefined || this.fencedLease === until || now < until - this.options.leadMs) return Promise.resolve();
    this.fencedLease = until;
    this.fencing = this.fence(until).finally(() => (this.fencing = undefined));
    return this.fencing;
  }

  /** Takes the ids of the environments the gateway would fail over: the only ones fenced from now on. */
  scope(ids: readonly string[]): void {
    this.failover = new Set(ids);
  }

  /** The ids of the environments a fencing would stop (if they run). */
  get scoped(): ReadonlySet<string> {
    return this.failover;
  }

  /** The fenced environments not acknowledged by the gateway yet (read from the data directory after a restart). */
  async pending(): Promise<FencedEnvironment[]> {
    return [...(await this.load())];
  }

  /** Forgets the fenced environments the gateway took note of. */
  async acknowledge(ids: readonly string[]): Promise<void> {
    if (!ids.length) return;
    const known = await this.load();
    const left = known.filter((f) => !ids.includes(f.id));
    if (left.length === known.length) return;
    await this.save(left);
  }

  private async fence(until: number): Promise<void> {
    const { logger, agent } = this;
    const failover = this.failover;
    logger.error({ agent: agent.id, leaseUntil: new Date(until).toISOString(), failover: [...failover] }, 'self-fencing: the lease could not be renewed (the gateway is unreachable); stopping the running environments the gateway would fail over before it ends');
    const stopped: FencedEnvironment[] = [];
    const context = () => ({ operationId: `self-fence-${randomUUID()}` });
    for (const driver of (await agent.drivers().catch(() => [])).filter((d) => d.available)) {
      const running = await agent.listEnvironments({ driver: driver.name }, context()).catch((e: unknown) => {
        logger.error({ err: e, driver: driver.name }, 'self-fencing: could not list the environments of a driver');
        return [];
      });
      for (const env of running.filter((e) => (e.state === 'running' || e.state === 'paused') && failover.has(e.id))) {
        try {
          await agent.stopEnvironment({ driver: driver.name, environmentId: env.id, graceSeconds: 0 }, context());
          stopped.push({ id: env.id, driver: driver.name, at: Date.now() });
          logger.error({ environment: env.id, driver: driver.name }, 'self-fenced: environment stopped');
        } catch (e) {
          logger.error({ err: e, environment: env.id, driver: driver.name }, 'self-fencing: could not stop an environment');
        }
      }
    }
    if (stopped.length) {
      const known = await this.load();
      await this.save([...known.filter((k) => !stopped.some((s) => s.id === k.id)), ...stopped]);
    }
    logger.error({ agent: agent.id, fenced: stopped.map((s) => s.id) }, `self-fencing done: ${stopped.length} environment(s) stopped; the others keep running (no failover would start them elsewhere)`);
  }

  private async load(): Promise<FencedEnvironment[]> {
    if (!this.fenced) {
      try {
        this.fenced = JSON.parse(await readFile(join(this.dataDir, FENCED_FILE), 'utf8')) as FencedEnvironment[];
      } catch {
        this.fenced = [];
      }
    }
    return this.fenced;
  }

  private async save(list: FencedEnvironment[]): Promise<void> {
    this.fenced = list;
    await mkdir(this.dataDir, { recursive: true });
    const file = join(this.dataDir, FENCED_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(list, null, 2));
    await rename(`${file}.tmp`, file);
  }
}
