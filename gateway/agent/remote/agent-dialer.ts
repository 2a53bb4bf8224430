import WebSocket from 'ws';
import { RspError, UnauthenticatedError, UnsupportedOperationError } from '../../errors';
import type { Logger } from '../../logging/logger';
import { RSP_VERSION } from '../../version';
import { AgentDispatcher } from '../agent-dispatcher';
import type { HostAgent } from '../host-agent';
import { rangeText, SPOKEN_PROTOCOLS } from '../protocol';
import type { ProtocolRange } from '../protocol';
import { readCredential, saveCredential } from './agent-credential-file';
import type { HostFactsData } from '../host-facts';
import { callLanes } from './call-lanes';
import { FactsWatcher } from './facts-watcher';
import { AGENT_WEBSOCKET_PATH, CLOSE_CODES, closeReason, FINAL_CLOSE_CODES, newAgentCredential } from './handshake';
import type { AgentHandshake, GatewayWelcome } from './handshake';
import { AgentHeartbeat } from './agent-heartbeat';
import { AgentLease } from './agent-lease';
import { reconnectDelay, type ReconnectBackoff } from './reconnect-backoff';
import { SelfFence } from './self-fence';
import { UpstreamClient } from './upstream-client';
import { websocketChannel } from './websocket-channel';

/** Options of an `AgentDialer`. */
export interface AgentDialerOptions {
  /**
   * The gateway: http(s):// or ws(s)://; `/agent` is dialled on it. Several gateway replicas are
   * separated by commas: a lost connection is dialled again on the next one, in turn.
   */
  gateway: string;
  /** A join token, used when the data directory holds no credential yet. */
  token?: string;
  /** The agent id expected (checked against the token's); absent: the token's. */
  agentId?: string;
  dataDir: string;
  /** Makes the agent once its id is known, with the upstream it reads images from. */
  makeAgent(agentId: string, upstream: UpstreamClient): Promise<HostAgent>;
  logger: Logger;
  /** How long the gateway may stay silent (no ping, no frame) before the agent drops the connection and dials again (default 30 s). */
  gatewaySilenceMs?: number;
  /** First and longest wait between reconnections (default `DEFAULT_BACKOFF`: 500 ms, 30 s). */
  backoff?: ReconnectBackoff;
  /**
   * How often the agent reads its facts again (default 60 s; 0: never) and how (default its
   * `hostFacts`): changed facts are pushed to the gateway (`reportFacts`).
   */
  facts?: { everyMs?: number; read?(agent: HostAgent): Promise<HostFactsData> };
  /**
   * The protocol versions the agent announces (default `SPOKEN_PROTOCOLS`). For tests only
   * (`RSP_TEST_AGENT_PROTOCOL`): an agent pinned to an older version, to test version skew.
   */
  protocols?: ProtocolRange;
}

/** How often `rsp agent` reads its facts again unless told. */
export const DEFAULT_FACTS_EVERY_MS = 60_000;

/** How long before its lease ends an agent starts fencing: half a beat, at most 1 s. */
function fenceLeadMs(heartbeatMs: number): number {
  return Math.min(heartbeatMs / 2, 1000);
}

/**
 * `rsp agent`'s connection to its gateway: dials out over WebSocket, shows its credential (or
 * enrolls with its join token and saves the credential it gets), then answers the gateway's calls
 * with its agent and reads images through the same socket. When the connection drops it dials
 * again, waiting longer each time (exponential backoff with jitter). A refusal that retrying cannot
 * cure (credential, protocol, malformed frame) ends `run` with an error. From its first welcome on
 * it pushes heartbeats at the gateway's pace, connected or not; each answer renews its lease and
 * names the environments the gateway would fail over, and a lease about to run out unrenewed
 * fences it (`SelfFence`): it stops those itself, the others keep running.
 * It also reads its machine's facts again every `facts.everyMs` and pushes them when they changed.
 */
export class AgentDialer {
  private agent: HostAgent | undefined;
  private readonly upstream = new UpstreamClient();
  private socket: WebSocket | undefined;
  private stopping = false;
  private attempt = 0;
  private wake: (() => void) | undefined;
  /** The lease the gateway's answers to heartbeats grant. */
  readonly lease = new AgentLease();
  private heartbeat: AgentHeartbeat | undefined;
  private fence: SelfFence | undefined;
  private facts: FactsWatcher | undefined;
  /** The agent as the gateway's calls reach it: its `hostFacts` answers tell the facts watcher what the gateway knows. */
  private served: HostAgent | undefined;

  /** The gateway replicas this agent may dial, and which one it dials next. */
  private readonly gateways: string[];
  private current = 0;

  /** The protocol versions this agent announces. */
  private readonly protocols: ProtocolRange;

  constructor(private readonly options: AgentDialerOptions) {
    this.gateways = gatewayList(options.gateway);
    this.protocols = options.protocols ?? SPOKEN_PROTOCOLS;
  }

  /** Connects and keeps connecting until `stop` (to the next gateway replica after each loss); rejects on a final refusal. */
  async run(): Promise<void> {
    if (!this.gateways.length) throw new RspError('BAD_USER_INPUT', '--gateway names no gateway');
    this.gateways.forEach((g) => agentUrl(g));
    while (!this.stopping) {
      const outcome = await this.connectOnce();
      if (this.stopping) return;
      if (FINAL_CLOSE_CODES.has(outcome.code)) {
        const error = outcome.code === CLOSE_CODES.PROTOCOL_MISMATCH ? new UnsupportedOperationError(`agent protocol ${rangeText(this.protocols)}`, 'the gateway', outcome.reason) : new UnauthenticatedError(`The gateway refused this agent: ${outcome.reason}`, { code: outcome.code });
        this.options.logger.error({ code: outcome.code, reason: outcome.reason }, 'the gateway refused this agent; not retrying');
        throw error;
      }
      if (outcome.welcomed) this.attempt = 0;
      const waitMs = reconnectDelay(this.attempt++, this.options.backoff);
      const lost = this.gateways[this.current];
      this.current = (this.current + 1) % this.gateways.length;
      this.options.logger.warn({ code: outcome.code, reason: outcome.reason, retryInMs: waitMs, gateway: lost, next: this.gateways[this.current] }, outcome.welcomed ? 'lost the gateway; dialling again' : 'could not connect to the gateway; dialling again');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Closes the connection cleanly and ends `run`. */
  stop(): void {
    this.stopping = true;
    this.heartbeat?.stop();
    this.facts?.stop();
    void this.fence?.stop();
    this.socket?.close(CLOSE_CODES.STOPPING, 'the agent is stopping');
    this.wake?.();
  }

  /** One connection, to its end: how it closed and whether the gateway had welcomed it. */
  private async connectOnce(): Promise<{ code: number; reason: string; welcomed: boolean }> {
    const { logger, dataDir } = this.options;
    let saved = await readCredential(dataDir);
    if (!saved && this.options.token) {
      // The credential is chosen and saved before the token is spent: a welcome lost on the way is not an enrollment lost.
      saved = { gateway: this.gateways.join(','), agentId: this.options.agentId ?? '', credential: newAgentCredential(), enrolling: true };
      await saveCredential(dataDir, saved);
    }
    if (!saved) throw new RspError('BAD_USER_INPUT', `No agent credential in ${dataDir} and no join token: give --token <join token>`);
    const enrolling = saved.enrolling === true && !!this.options.token;
    const secret = enrolling ? this.options.token! : saved.credential;
    const agentId = this.options.agentId ?? (saved.agentId || undefined);
    if (saved.agentId && this.options.agentId && saved.agentId !== this.options.agentId) throw new RspError('BAD_USER_INPUT', `${dataDir} holds the credential of agent "${saved.agentId}", not "${this.options.agentId}"`);
    const url = agentUrl(this.gateways[this.current]!);
    return new Promise((resolve) => {
      let welcomed = false;
      const socket = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
      this.socket = socket;
      // Why the connection failed (refused, TLS, an HTTP answer instead of an upgrade) goes into the
      // one warning of its close below, not a stack trace per attempt.
      let failure: string | undefined;
      socket.on('error', (e: NodeJS.ErrnoException) => {
        failure = e.code && !e.message.includes(e.code) ? `${e.message} (${e.code})` : e.message;
        logger.debug({ err: e, gateway: url }, 'gateway connection error');
      });
      // A gateway that stopped pinging (a half-open connection) is dropped, and dialled again.
      const silenceMs = this.options.gatewaySilenceMs ?? 30_000;
      let heard = Date.now();
      const hear = () => (heard = Date.now());
      socket.on('ping', hear);
      socket.on('message', hear);
      // The judgement waits for the I/O of this turn of the event loop (`setImmediate` runs after it):
      // after a stall of the agent's own (a long task, an overloaded machine) the timer fires before
      // the pings the gateway sent meanwhile are read, and would drop a gateway that was not silent.
      const judge = () => {
        if (socket.readyState !== WebSocket.OPEN || Date.now() - heard <= silenceMs) return;
        logger.warn({ silentMs: Date.now() - heard }, 'the gateway went silent: dropping the connection');
        socket.terminate();
      };
      const watch = setInterval(() => setImmediate(judge), Math.min(silenceMs, 5_000));
      watch.unref();
      socket.on('close', (code: number, reason: Buffer) => {
        clearInterval(watch);
        resolve({ code, reason: reason.toString() || failure || 'the connection closed', welcomed });
      });
      socket.on('open', () => {
        const hello: AgentHandshake = { type: 'handshake', protocol: this.protocols.oldest, newestProtocol: this.protocols.newest, secret, software: RSP_VERSION, ...(agentId ? { agentId } : {}), ...(enrolling ? { credential: saved.credential } : {}) };
        socket.send(JSON.stringify(hello));
      });
      // Calls may follow the welcome before the agent is ready for them: they wait here.
      const early: string[] = [];
      const keep = (data: Buffer) => early.push(data.toString());
      socket.once('message', (data: Buffer) => {
        socket.on('message', keep);
        void this.welcomed(socket, data.toString(), url, () => {
          socket.off('message', keep);
          return early;
        }).then(
          () => (welcomed = true),
          (e: unknown) => {
            logger.error({ err: e }, 'the gateway\'s welcome could not be taken');
            if (e instanceof WelcomeProtocolError) socket.close(CLOSE_CODES.PROTOCOL_MISMATCH, closeReason(e.message));
            else socket.close(CLOSE_CODES.MALFORMED, 'bad welcome');
          },
        );
      });
    });
  }

  /** Takes the welcome: saves a new credential, makes the agent (first time), and serves calls. */
  private async welcomed(socket: WebSocket, text: string, url: string, early: () => string[]): Promise<void> {
    const { logger, dataDir } = this.options;
    const welcome = JSON.parse(text) as GatewayWelcome;
    if (welcome.type !== 'welcome' || typeof welcome.agentId !== 'string') throw new Error('the first message is not a welcome');
    // The version both speak, chosen by the gateway (a gateway of protocol 4 names its own).
    const protocol = welcome.protocol;
    if (typeof protocol !== 'number' || protocol < this.protocols.oldest || protocol > this.protocols.newest) {
      throw new WelcomeProtocolError(`protocol mismatch: the gateway chose ${String(protocol)}, the agent speaks ${rangeText(this.protocols)}; upgrade the ${typeof protocol === 'number' && protocol < this.protocols.oldest ? 'gateway' : 'agent'}`);
    }
    if (welcome.credential) {
      await saveCredential(dataDir, { gateway: this.gateways.join(','), agentId: welcome.agentId, credential: welcome.credential });
      logger.info({ agent: welcome.agentId }, 'enrolled: the agent credential is saved in the data directory');
    }
    this.agent ??= await this.options.makeAgent(welcome.agentId, this.upstream);
    if (this.agent.id !== welcome.agentId) throw new Error(`the gateway calls this agent "${welcome.agentId}", it is "${this.agent.id}"`);
    const channel = websocketChannel(socket, 'the gateway', early());
    const lanes = callLanes(channel, (problem) => {
      logger.warn({ problem }, 'the gateway sent a malformed frame');
      socket.close(CLOSE_CODES.MALFORMED, `malformed frame: ${problem}`.slice(0, 120));
    }, 'incoming');
    this.served ??= this.watchFacts(this.agent);
    new AgentDispatcher(this.served, lanes.incoming, logger, protocol);
    this.upstream.attach(lanes.outgoing, protocol);
    logger.info({ agent: welcome.agentId, gateway: url, protocol }, 'connected to the gateway');
    this.startHeartbeats(this.agent, welcome.heartbeatMs, welcome.beatPhaseMs);
  }

  /** Starts the watch over the agent's facts (it outlives connections); the agent as the gateway reaches it. */
  private watchFacts(agent: HostAgent): HostAgent {
    const everyMs = this.options.facts?.everyMs ?? DEFAULT_FACTS_EVERY_MS;
    const read = this.options.facts?.read ?? ((a: HostAgent) => a.hostFacts());
    this.facts = new FactsWatcher(() => read(agent), this.upstream, this.options.logger, everyMs);
    if (!this.stopping) this.facts.start();
    return this.facts.observe(agent);
  }

  /** Heartbeats and the self-fence, from the first welcome on (they outlive connections). */
  private startHeartbeats(agent: HostAgent, heartbeatMs: number | undefined, phaseMs: unknown): void {
    const phase = typeof phaseMs === 'number' && Number.isFinite(phaseMs) && phaseMs >= 0 ? phaseMs : undefined;
    if (this.heartbeat) return this.heartbeat.align(phase);
    if (this.stopping) return;
    const beatMs = typeof heartbeatMs === 'number' && heartbeatMs > 0 ? heartbeatMs : 1000;
    this.fence = new SelfFence(agent, this.lease, this.options.dataDir, this.options.logger, { leadMs: fenceLeadMs(beatMs), checkMs: Math.max(20, Math.min(beatMs / 4, 250)) });
    this.heartbeat = new AgentHeartbeat(this.upstream, this.lease, this.fence, this.options.logger, beatMs, phase);
    this.fence.start();
    this.heartbeat.start();
  }
}

/** A welcome whose protocol version this agent does not speak: the connection closes with PROTOCOL_MISMATCH. */
class WelcomeProtocolError extends Error {}

/** The gateway URLs of a `--gateway` value: one, or several replicas separated by commas. */
export function gatewayList(gateway: string): string[] {
  return gateway.split(',').map((g) => g.trim()).filter(Boolean);
}

/** The agent endpoint of a gateway URL: http→ws, https→wss, path `/agent`. */
export function agentUrl(gateway: string): string {
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new RspError('BAD_USER_INPUT', `--gateway must be an http(s):// or ws(s):// URL, got ${gateway}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new RspError('BAD_USER_INPUT', `--gateway must be an http(s):// or ws(s):// URL, got ${gateway}`);
  url.pathname = AGENT_WEBSOCKET_PATH;
  return url.toString();
}
