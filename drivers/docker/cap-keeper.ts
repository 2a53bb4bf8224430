import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import { KeyedQueue } from '../host/keyed-queue';
import { runTool } from '../host/run-tool';
import { shapedInterfaces } from '../host/shaping';
import { hostVethOf } from './shaping';

/** How long to wait before following the engine's events again once the stream ended (dockerd restarting). */
const RECONNECT_MS = 1_000;

/** What the keeper needs of the driver: its containers, their caps, and a way to (re)apply one. */
export interface CapKeeperHost {
  /** The environment ids of the driver's containers (of its instance), with their engine ids. */
  owned(): Promise<Array<{ id: string; containerId: string }>>;
  /** The environment id of a container the driver owns (by its labels), or undefined. */
  environmentOf(labels: Record<string, string> | undefined): string | undefined;
  /** The cap in force for environment `id` (its container inspected), or undefined without one. */
  capOf(id: string, info: Docker.ContainerInspectInfo): Promise<number | undefined>;
  /** The container name its ifb is named after. */
  nameOf(id: string): string;
  /** Applies the cap to the running container, as the driver does at its own starts. */
  reapply(id: string, info: Docker.ContainerInspectInfo): Promise<void>;
}

/** True when `veth` carries a root tbf at `bitsPerSecond` and the ifb exists: the cap is in force. */
async function capInForce(veth: string, ifb: string, bitsPerSecond: number): Promise<boolean> {
  const root = await runTool('tc', ['qdisc', 'show', 'dev', veth, 'root']);
  const m = /qdisc tbf \S+ root .*rate (\d+)([KMG]?)bit/.exec(root.stdout);
  if (!m) return false;
  const rate = Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]!;
  const ifbShown = await runTool('ip', ['-o', 'link', 'show', 'dev', ifb]);
  return Math.abs(rate - bitsPerSecond) <= bitsPerSecond * 0.01 && ifbShown.exitCode === 0;
}

/**
 * Keeps Docker bandwidth caps on containers the engine starts by itself: a restart policy, a
 * `docker restart` from outside, or dockerd restarting its containers. A cap is `tc` on the
 * container's host-side veth, and every start makes a new veth. The keeper follows the engine's
 * `start` events of RSP's containers and, on each, applies the cap again unless it is already in
 * force (the driver's own starts apply it themselves). When the event stream ends (dockerd
 * restarting) it follows again and sweeps every running capped container, since starts during
 * the outage were not seen. Emits `reapplied` (environment id) after a cap was applied again, and
 * `failed` (environment id, error) when it could not be.
 */
export class CapKeeper extends EventEmitter {
  private stream: IncomingMessage | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly queue = new KeyedQueue();
  /** Environments the driver is starting itself: it applies their caps. */
  private readonly starting = new Map<string, number>();

  constructor(
    private readonly engine: Docker,
    private readonly host: CapKeeperHost,
  ) {
    super();
  }

  /** Starts following the engine's events (once; later calls wait for the same connection). Resolves when the stream is open. */
  follow(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.stream) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Runs the driver's own start of environment `id`: starts seen meanwhile are the driver's, which applies the cap. */
  async ownStart<T>(id: string, work: () => Promise<T>): Promise<T> {
    this.starting.set(id, (this.starting.get(id) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.starting.get(id) ?? 1) - 1;
      if (left) this.starting.set(id, left);
      else this.starting.delete(id);
    }
  }

  /** Runs `work` on environment `id`'s cap after every earlier one (the driver's applies and removals, and the keeper's). */
  serialize<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(id, work);
  }

  /** Stops following. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.destroy();
    this.stream = undefined;
  }

  private async connect(): Promise<void> {
    let stream: IncomingMessage;
    try {
      stream = (await this.engine.getEvents({ filters: { type: ['container'], event: ['start'], label: ['rsp.environment'] } })) as IncomingMessage;
    } catch {
      this.again();
      return;
    }
    if (this.closed) {
      stream.destroy();
      return;
    }
    this.stream = stream;
    // A following stream must not keep the process alive by itself.
    stream.socket?.unref();
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let end: number;
      while ((end = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, end).trim();
        pending = pending.slice(end + 1);
        if (line) this.onEvent(line);
      }
    });
    const ended = () => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.again();
    };
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
    void this.sweep();
  }

  /** Follows again after a pause, unless closed. */
  private again(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.follow();
    }, RECONNECT_MS);
    this.timer.unref();
  }

  private onEvent(line: string): void {
    let event: { id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    const containerId = event.Actor?.ID ?? event.id;
    const id = this.host.environmentOf(event.Actor?.Attributes);
    if (containerId && id) void this.keep(id, containerId);
  }

  /** Every running container of the driver with a cap gets it again where it is missing. */
  private async sweep(): Promise<void> {
    const owned = await this.host.owned().catch(() => []);
    for (const { id, containerId } of owned) await this.keep(id, containerId);
  }

  /** Applies environment `id`'s cap to its container again when it runs, has a cap, and the cap is not in force. */
  private keep(id: string, containerId: string): Promise<void> {
    return this.serialize(id, () => this.keepNow(id, containerId));
  }

  private async keepNow(id: string, containerId: string): Promise<void> {
    if (this.starting.has(id)) return;
    try {
      const info = await this.engine.getContainer(containerId).inspect();
      const cap = await this.host.capOf(id, info);
      if (!cap || !info.State.Running || !info.State.Pid) return;
      const veth = await hostVethOf(info.State.Pid);
      if (veth && (await capInForce(veth, shapedInterfaces(this.host.nameOf(id)).ifb, cap))) return;
      await this.host.reapply(id, info);
      this.emit('reapplied', id);
    } catch (e) {
      this.emit('failed', id, e);
    }
  }
}
