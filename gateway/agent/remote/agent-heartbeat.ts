import type { Logger } from '../../logging/logger';
import type { HeartbeatAnswer, HeartbeatRequest } from '../protocol';
import type { AgentLease } from './agent-lease';
import type { SelfFence } from './self-fence';

/** Where an agent's heartbeats go: the gateway, over its connection (`UpstreamClient`). */
export interface HeartbeatSink {
  heartbeat(beat: HeartbeatRequest): Promise<HeartbeatAnswer>;
}

/**
 * The delay from `now` to the next beat of an agent beating every `intervalMs` at `phaseMs` into
 * each interval (beats at `phaseMs + k × intervalMs` since the epoch, this machine's clock). After
 * a beat (`afterBeat`), the beat just made is taken for the nearest such time, so a timer that
 * fired late or a little early never makes two beats of one interval, nor two intervals without one.
 */
export function nextBeatDelay(now: number, intervalMs: number, phaseMs: number, afterBeat: boolean): number {
  const since = now - phaseMs;
  if (!afterBeat) return intervalMs - (((since % intervalMs) + intervalMs) % intervalMs);
  return phaseMs + (Math.round(since / intervalMs) + 1) * intervalMs - now;
}

/**
 * The heartbeats an agent pushes to its gateway every `heartbeatMs` (the gateway's setting, from
 * its welcome and each answer), at the phase its welcome names (`beatPhaseMs`: the gateway puts
 * its agents' beats together in a few bursts, which it takes many to one wake-up — cheaper than
 * one wake-up per beat; without it, a beat every `heartbeatMs` from the start). Each carries the environments the agent self-fenced and has not
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
    /** Where in each interval to beat (the welcome's `beatPhaseMs`), or undefined: anywhere. */
    private phaseMs?: number,
  ) {
    this.intervalMs = heartbeatMs;
  }

  /**
   * Beats at `phaseMs` into each interval from now on (a new connection's welcome); undefined:
   * anywhere. A new phase beats at once first: the next beat is never more than an interval away.
   */
  align(phaseMs: number | undefined): void {
    if (phaseMs === this.phaseMs) return;
    this.phaseMs = phaseMs;
    if (!this.timer) return;
    this.stop();
    this.start();
  }

  /** Beats now, then every `heartbeatMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    void this.beat();
    this.schedule();
  }

  /** Stops beating. */
  stop(): void {
    clearTimeout(this.timer);
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

  private schedule(afterBeat = false): void {
    const phase = this.phaseMs;
    if (phase === undefined) this.timer = setInterval(() => void this.beat(), this.intervalMs);
    else
      this.timer = setTimeout(() => {
        void this.beat();
        this.schedule(true);
      }, nextBeatDelay(Date.now(), this.intervalMs, phase, afterBeat));
    this.timer.unref();
  }
}
