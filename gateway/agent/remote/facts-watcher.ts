import type { Logger } from '../../logging/logger';
import type { HostAgent } from '../host-agent';
import { factsFingerprint, type HostFactsData } from '../host-facts';

/** Where a watcher pushes facts that changed (the agent's upstream client). */
export interface FactsSink {
  reportFacts(facts: HostFactsData): Promise<{ hosts: number; warnings: string[] }>;
}

/**
 * `rsp agent`'s watch over its machine's facts: every `everyMs` it reads them again (`read`, which
 * may probe the drivers again) and pushes them to the gateway only when they differ from what the
 * gateway last got — its own pull at each connection (seen through `observe`) or the last push.
 * Free space and the time of reading are no change (see `factsFingerprint`). A push that fails
 * (the gateway is away) is tried again at the next check; the gateway pulls at reconnection anyway.
 */
export class FactsWatcher {
  private known: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<boolean> | undefined;

  constructor(
    private readonly read: () => Promise<HostFactsData>,
    private readonly sink: FactsSink,
    private readonly logger: Logger,
    private readonly everyMs: number,
  ) {}

  /** `agent`, telling the watcher what its `hostFacts` answers the gateway. */
  observe(agent: HostAgent): HostAgent {
    return new Proxy(agent, {
      get: (target, property) => {
        if (property === 'hostFacts') {
          return async (...args: Parameters<HostAgent['hostFacts']>) => {
            const facts = await target.hostFacts(...args);
            this.known = factsFingerprint(facts);
            return facts;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Checks every `everyMs` until `stop`. */
  start(): void {
    if (this.timer || this.everyMs <= 0) return;
    this.timer = setInterval(() => void this.check().catch(() => undefined), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the facts and pushes them when they changed; true when it pushed. One check at a time. */
  check(): Promise<boolean> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkOnce(): Promise<boolean> {
    const facts = await this.read();
    const fingerprint = factsFingerprint(facts);
    if (fingerprint === this.known) return false;
    try {
      const answer = await this.sink.reportFacts(facts);
      this.known = fingerprint;
      this.logger.info({ hosts: answer.hosts, warnings: answer.warnings }, 'the host facts changed: reported to the gateway');
      return true;
    } catch (e) {
      this.logger.warn({ err: e }, 'could not report the changed host facts; trying again at the next check');
      return false;
    }
  }
}
