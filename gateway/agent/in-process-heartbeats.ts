import type { Logger } from '../logging/logger';
import type { AgentLink } from './agent-link';
import type { HeartbeatReceiver } from './remote/upstream-dispatcher';

/**
 * The heartbeats of the in-process agents (`local`, `RSP_AGENTS`), pushed every `heartbeatMs`
 * through the same receiver as remote agents' beats. An agent cut off in the link
 * (`AgentLink.disconnect`) does not beat, as a lost machine would not. In-process agents do not
 * self-fence: they live in the gateway, which holds their lease.
 */
export class InProcessHeartbeats {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly agents: AgentLink,
    private readonly receiver: HeartbeatReceiver,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
  ) {}

  /** Beats every `heartbeatMs` until `stop`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Stops beating and waits for a round in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
  }

  /**
   * One beat of every connected in-process agent, all at once (each is heard as it is sent, so a
   * slow database answer to one does not leave the others silent); a round still running is
   * waited for, not doubled.
   */
  beat(): Promise<void> {
    this.beating ??= Promise.all(
      this.agents.inProcess().map((id) => Promise.resolve(this.receiver.receiveHeartbeat(id, { sentAt: Date.now(), fenced: [] })).catch((e: unknown) => this.logger.warn({ err: e, agent: id }, 'a heartbeat of an in-process agent failed'))),
    )
      .then(() => undefined)
      .finally(() => (this.beating = undefined));
    return this.beating;
  }
}
