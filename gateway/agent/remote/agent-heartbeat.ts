import type { Logger } from '../../logging/logger';
import type { HeartbeatAnswer, HeartbeatRequest } from '../protocol';
import type { AgentLease } from './agent-lease';
import type { SelfFence } from './self-fence';

/** Where an agent's heartbeats go: the gateway, over its connection (`UpstreamClient`). */
export interface HeartbeatSink {
  heartbeat(beat: HeartbeatRequest): Promise<HeartbeatAnswer>;
}

/**
 * The heartbeats an agent pushes to its gateway every `heartbeatMs` (the gateway's setting, from
 * its welcome and each answer): each carries the environments the agent self-fenced and has not
 * reported yet; each answer renews the lease, acknowledges the reported ones and names the
 * environments the fence covers (those the gateway would fail over). A beat that
 * fails (no connection) is logged once per outage; the lease then runs out and the fence acts.
 */
export class AgentHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private failing = false;
  private intervalMs: number;

  constructor(
    private readonly sink: HeartbeatSink,
    private readonly lease: AgentLease,
    private readonly fence: SelfFence,
    private readonly logger: Logger,
    heartbeatMs: number,
  ) {
    this.intervalMs = heartbeatMs;
  }

  /** Beats now, then every `heartbeatMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    void this.beat();
    this.schedule();
  }

  /** Stops beating. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One beat: sends it, takes the lease and the acknowledgements. False when it was not answered. */
  async beat(): Promise<boolean> {
    if (this.beating) return false;
    this.beating = true;
    try {
      const answer = await this.sink.heartbeat({ sentAt: Date.now(), fenced: await this.fence.pending() });
      this.lease.renew(answer.leaseUntil);
      if (Array.isArray(answer.failover)) this.takeScope(answer.failover);
      await this.fence.acknowledge(answer.acknowledged);
      if (answer.acknowledged.length) this.logger.info({ environments: answer.acknowledged }, 'the gateway took note of the self-fenced environments');
      if (this.failing) this.logger.info({ leaseUntil: new Date(answer.leaseUntil).toISOString() }, 'heartbeats answered again: the lease is renewed');
      this.failing = false;
      if (answer.heartbeatMs !== this.intervalMs && this.timer) {
        this.intervalMs = answer.heartbeatMs;
        this.stop();
        this.schedule();
      }
      return true;
    } catch (e) {
      if (!this.failing) this.logger.warn({ err: e, leaseLeftMs: this.lease.remaining() }, 'a heartbeat was not answered; the lease runs out unless one is');
      this.failing = true;
      return false;
    } finally {
      this.beating = false;
    }
  }

  /** Gives the fence the environments the gateway would fail over; logs the set when it changes. */
  private takeScope(ids: string[]): void {
    const known = this.fence.scoped;
    if (ids.length === known.size && ids.every((id) => known.has(id))) return;
    this.fence.scope(ids);
    this.logger.info({ failover: [...ids].sort() }, 'the environments a self-fencing would stop (the gateway fails them over) changed');
  }

  private schedule(): void {
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }
}
