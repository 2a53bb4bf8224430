import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import type { AgentCredentialService } from '../../auth/agent-credential-service';
import type { ChunkTransport } from '../../artifacts/chunk-transport';
import type { Logger } from '../../logging/logger';
import type { HostFactsService } from '../../services/host-facts-service';
import { RSP_VERSION } from '../../version';
import { AgentClient } from '../agent-client';
import type { AgentLink } from '../agent-link';
import { negotiateProtocol, SPOKEN_PROTOCOLS } from '../protocol';
import type { ProtocolRange } from '../protocol';
import { Admission } from './admission';
import { beatPhase } from './beat-phase';
import { callLanes } from './call-lanes';
import { CLOSE_CODES, closeReason } from './handshake';
import type { AgentHandshake, GatewayWelcome } from './handshake';
import type { CallContext } from '../protocol';
import { UpstreamDispatcher } from './upstream-dispatcher';
import type { HeartbeatReceiver } from './upstream-dispatcher';
import { websocketChannel } from './websocket-channel';
import { AddressPlaces } from '../../limits/socket-admission';
import { agentFrameRefusal, answerOverBound, answerTooLarge, BULK_ANSWER_METHODS, MAX_AGENT_ANSWER_BYTES, messageVerdict } from './frame-limits';
import { gateFrames, type FrameGate } from './frame-gate';
import type { AgentMethod } from '../host-agent';
import { RATE_LIMITED } from '../../limits/request-limits';
import { refuseUpgrade } from '../../server/graphql-upgrade';

/** What the gateway's end of remote agents needs. */
export interface AgentServerDeps {
  agents: AgentLink;
  credentials: AgentCredentialService;
  /** Records what a connecting agent reports of its machine: technologies, facts, inventories. */
  hostFacts: HostFactsService;
  /** Takes the heartbeats agents push (the host health service). */
  heartbeats: HeartbeatReceiver;
  /** The image store's chunks, which agents read. */
  upstream: ChunkTransport;
  logger: Logger;
  /** How often the gateway pings each agent, and each agent must push a heartbeat. */
  heartbeatMs: number;
  /** How long an agent may stay silent (no pong, no frame) before its connection is cut. */
  silenceMs: number;
  /** How long a new connection has to send its handshake. */
  handshakeTimeoutMs?: number;
  /** How many agents are admitted (credential checked, opening calls, facts recorded) at once; the others wait their turn (default 16). */
  admitAtOnce?: number;
  /** Called once an agent is in the link: settles what a lost operation left on its hosts (`EnvironmentService.settleAfterReconnect`) and looks for orphans (`OrphanService.scan`). */
  onConnected?(agentId: string): Promise<unknown>;
  /** The protocol versions the gateway speaks (default `SPOKEN_PROTOCOLS`; tests pin an older gateway with it). */
  protocols?: ProtocolRange;
  /** Connections waiting for their handshake, at most (default `PENDING_HANDSHAKE_CAPS`). */
  pendingCaps?: { total: number; perAddress: number };
}

/**
 * Connections not welcomed yet (before their handshake, or while its secret is checked), at most:
 * in all and from one address. Each may hold MAX_HANDSHAKE_BYTES until then, so these bound what
 * anyone can hold without a credential (256 MiB in all); they are far above what a thousand agents
 * reconnecting at once need.
 */
export const PENDING_HANDSHAKE_CAPS = { total: 4096, perAddress: 1024 };

/** Seconds a connection refused over a pending-handshake cap is told to wait. */
const PENDING_RETRY_SECONDS = 5;

/** Bytes a connection may send before it is welcomed (a handshake is well under 1 KiB, and an agent sends nothing more until its welcome). */
export const MAX_HANDSHAKE_BYTES = 64 * 1024;

/**
 * The gateway's end of `rsp agent` connections (WebSocket at `/agent`): checks the handshake
 * (negotiates the protocol version, checks the join token or credential), then the agent is an `AgentClient` in the agent
 * link under its id, and an upstream dispatcher takes the heartbeats it pushes (answered with its
 * lease) and serves it the image store's chunks. The agent leaves the link when its socket closes or stays
 * silent past `silenceMs`; its credential's revocation closes it.
 */
export class AgentServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_ANSWER_BYTES });
  /** Each agent's newest connection: its socket and its client (in the link once its opening calls are done). */
  private readonly sockets = new Map<string, { socket: WebSocket; client: AgentClient }>();
  private readonly peers = new Map<string, { version: string; remoteAddress: string; protocol: number }>();
  private readonly pinger: NodeJS.Timeout;
  private readonly admission: Admission;
  /** Connections waiting for their welcome (handshake, then its secret checked), in all and per client address. */
  private readonly pending: AddressPlaces;
  /** Each connection's gate, which judges its messages from their headers before ws buffers them (frame-gate.ts). */
  private readonly gates = new WeakMap<WebSocket, FrameGate>();
  /** What frees a connection's pending place and byte budget once it is welcomed. */
  private readonly unwelcomed = new WeakMap<WebSocket, () => void>();
  /** How many agents this gateway welcomed: each one's beat phase follows from it (`beatPhase`). */
  private welcomed = 0;

  constructor(private readonly deps: AgentServerDeps) {
    this.admission = new Admission(deps.admitAtOnce ?? 16);
    this.pending = new AddressPlaces(deps.pendingCaps ?? PENDING_HANDSHAKE_CAPS);
    this.wss.on('connection', (socket: WebSocket, req: IncomingMessage) => this.accept(socket, req.socket.remoteAddress ?? 'unknown'));
    deps.credentials.onRevoked((agentId) => this.sockets.get(agentId)?.socket.close(CLOSE_CODES.UNAUTHENTICATED, 'the agent credential was revoked'));
    // A socket silent (no pong, no frame) for longer than `silenceMs` is cut off: its agent leaves the link.
    // Only sockets silent for a beat are pinged: an agent's heartbeats are enough to hear it.
    // The judgement waits for the I/O of this turn of the event loop (`setImmediate` runs after it):
    // after a stall of the gateway's own (a long task, an overloaded machine) the timer fires
    // before the frames agents sent meanwhile are read, and would cut agents that were not silent.
    const heard = new WeakMap<WebSocket, number>();
    this.pinger = setInterval(() => setImmediate(judge), deps.heartbeatMs);
    const judge = () => {
      const now = Date.now();
      for (const socket of this.wss.clients) {
        if (!heard.has(socket)) {
          heard.set(socket, now);
          const hear = () => heard.set(socket, Date.now());
          socket.on('pong', hear);
          socket.on('message', hear);
        }
        const silentMs = now - heard.get(socket)!;
        if (silentMs > deps.silenceMs) {
          this.deps.logger.warn({ silentMs }, 'a host agent stopped answering pings: its connection is cut');
          socket.terminate();
          continue;
        }
        // A socket heard within the last beat (its heartbeat, any frame) needs no ping.
        if (silentMs >= deps.heartbeatMs) socket.ping();
      }
    };
    this.pinger.unref();
  }

  /** The RSP version, address and negotiated protocol version of the connected remote agent `agentId`, or undefined. */
  describe(agentId: string): { version: string; remoteAddress: string; protocol: number } | undefined {
    return this.peers.get(agentId);
  }

  /**
   * Takes over an HTTP upgrade request for the agent path. Until it is welcomed (its handshake
   * came and its secret is authenticated), a socket is anyone's: more than MAX_HANDSHAKE_BYTES
   * before it cuts the connection, so no one holds the gateway's memory with a frame of up to the
   * agents' 256 MiB before proving who it is; and at most `pendingCaps` connections wait for their
   * welcome (over them: HTTP 429 with Retry-After, which an agent takes as a failed dial and
   * retries after its backoff).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const address = req.socket.remoteAddress ?? 'unknown';
    const release = this.pending.take(address);
    if (typeof release !== 'function') {
      this.deps.logger.warn({ address, pending: this.pending.size, cap: release }, 'refused a host agent connection: too many connections waiting for their handshake');
      return refuseUpgrade(socket, 429, 'Too Many Requests', 'Too many host agent connections are waiting for their handshake', RATE_LIMITED, PENDING_RETRY_SECONDS);
    }
    socket.once('close', release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // Each message is judged from its frame's header before ws buffers it (frame-gate.ts): before its
      // welcome, one over a handshake's bytes cuts the connection as `count` below does; once welcomed,
      // one over its bound is dropped or closes the connection (welcome()).
      let welcomed = false;
      const gate = gateFrames(socket, (declared) => (declared <= MAX_HANDSHAKE_BYTES ? MAX_HANDSHAKE_BYTES : `a frame of ${declared} bytes, over ${MAX_HANDSHAKE_BYTES}`), (reason) => {
        if (!welcomed) {
          this.deps.logger.warn({ address, reason }, 'refused a host agent connection: a message over its bound before it was welcomed');
          return void socket.destroy();
        }
        this.deps.logger.warn({ address, reason }, "a host agent sent a message over its bound, judged from its frame's header: its connection is closed");
        ws.close(CLOSE_CODES.MALFORMED, closeReason(reason));
      });
      ws.once('error', () => gate.stop());
      this.gates.set(ws, gate);
      let received = head.length;
      const count = (chunk: Buffer) => {
        received += chunk.length;
        if (received <= MAX_HANDSHAKE_BYTES) return;
        socket.off('data', count);
        this.deps.logger.warn({ address, bytes: received }, `refused a host agent connection: more than ${MAX_HANDSHAKE_BYTES} bytes before it was welcomed`);
        socket.destroy();
      };
      socket.on('data', count);
      // Until its welcome (the handshake checked, the secret authenticated) the connection is still
      // anyone's: it keeps its place and its byte budget while its secret is checked, or waits
      // for its turn to be (a handshake with a made-up secret bought neither before).
      this.unwelcomed.set(ws, () => {
        welcomed = true;
        socket.off('data', count);
        release();
      });
      this.wss.emit('connection', ws, req);
    });
  }

  /** Closes every agent connection. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const socket of this.wss.clients) socket.close(1001, 'the gateway is stopping');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(socket: WebSocket, address: string): void {
    const { logger } = this.deps;
    const refuse = (code: number, reason: string, context: Record<string, unknown> = {}) => {
      logger.warn({ address, code, reason, ...context }, 'refused a host agent connection');
      socket.close(code, closeReason(reason));
    };
    // A socket error (a broken WebSocket frame, too big a message) is logged; the socket then closes.
    socket.on('error', (e) => logger.warn({ err: e, address }, 'host agent connection error'));
    const timer = setTimeout(() => refuse(CLOSE_CODES.HANDSHAKE_TIMEOUT, 'no handshake in time'), this.deps.handshakeTimeoutMs ?? 10_000);
    socket.once('close', () => clearTimeout(timer));
    socket.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      let hello: AgentHandshake;
      try {
        hello = JSON.parse(isBinary ? '' : data.toString()) as AgentHandshake;
        if (!hello || hello.type !== 'handshake' || typeof hello.protocol !== 'number' || typeof hello.secret !== 'string') throw new Error('not a handshake');
        if (hello.agentId !== undefined && typeof hello.agentId !== 'string') throw new Error('agentId is not a string');
        if (hello.credential !== undefined && typeof hello.credential !== 'string') throw new Error('credential is not a string');
        if (hello.newestProtocol !== undefined && (typeof hello.newestProtocol !== 'number' || hello.newestProtocol < hello.protocol)) throw new Error('newestProtocol is not a version at least protocol');
      } catch (e) {
        return refuse(CLOSE_CODES.MALFORMED, `malformed handshake: ${(e as Error).message}`);
      }
      const negotiated = negotiateProtocol(this.deps.protocols ?? SPOKEN_PROTOCOLS, { oldest: hello.protocol, newest: hello.newestProtocol ?? hello.protocol }, { gateway: RSP_VERSION, agent: String(hello.software) });
      if ('refusal' in negotiated) return refuse(CLOSE_CODES.PROTOCOL_MISMATCH, negotiated.refusal, { agent: hello.agentId, software: hello.software });
      const protocol = negotiated.version;
      void this.admission.run(async () => {
        if (socket.readyState !== socket.OPEN) return;
        const identity = await this.deps.credentials.authenticate(hello.secret, hello.agentId, hello.credential).catch((e: unknown) => {
          refuse(CLOSE_CODES.UNAUTHENTICATED, (e as Error).message, { agent: hello.agentId });
          return undefined;
        });
        if (identity) await this.welcome(socket, identity.agentId, identity.credential, address, protocol);
      }).catch((e: unknown) => logger.warn({ err: e, address }, 'a host agent could not be admitted'));
    });
  }

  private async welcome(socket: WebSocket, agentId: string, credential: string | undefined, address: string, protocol: number): Promise<void> {
    const { logger, agents } = this.deps;
    if (socket.readyState !== socket.OPEN) return;
    const { heartbeatMs } = this.deps;
    this.unwelcomed.get(socket)?.();
    this.unwelcomed.delete(socket);
    const welcome: GatewayWelcome = { type: 'welcome', protocol, agentId, heartbeatMs, beatPhaseMs: beatPhase(this.welcomed++, heartbeatMs), ...(credential ? { credential } : {}) };
    socket.send(JSON.stringify(welcome));
    // A frame over the small frames' limit is read only as the answer to a bulk call in flight, and
    // an answer over its call's bound is not read at all: that call fails (frame-limits.ts).
    let methodInFlight: (id: string) => string | undefined = () => undefined;
    let overBound: (id: string, method: string, bytes: number) => void = () => undefined;
    const channel = websocketChannel(socket, `host agent ${agentId}`, [], {
      code: CLOSE_CODES.MALFORMED,
      of: (data) => {
        const refusal = agentFrameRefusal(data, (id) => BULK_ANSWER_METHODS.has(methodInFlight(id) as AgentMethod));
        if (refusal) {
          logger.warn({ agent: agentId, bytes: data.length }, `a host agent sent a ${refusal}: its connection is closed`);
          return refusal;
        }
        const over = answerOverBound(data, methodInFlight);
        if (over) {
          logger.warn({ agent: agentId, method: over.method, bytes: data.length }, 'a host agent answered a call with more than its bound: the answer is dropped unread, the call fails');
          overBound(over.id, over.method, data.length);
          return null;
        }
        return undefined;
      },
    });
    // The same bounds, judged from each message's frame header and first bytes: an over-bound message is never buffered.
    const gate = this.gates.get(socket);
    if (gate) {
      gate.judge = (declared, head) =>
        messageVerdict(declared, head, methodInFlight, (id, method) => {
          logger.warn({ agent: agentId, method, bytes: declared }, "a host agent's answer to a call declares more than its bound: it is dropped unread, the call fails");
          overBound(id, method, declared);
        });
    }
    const lanes = callLanes(channel, (problem) => {
      logger.warn({ agent: agentId, problem }, 'a host agent sent a malformed frame: its connection is closed');
      socket.close(CLOSE_CODES.MALFORMED, closeReason(`malformed frame: ${problem}`));
    }, 'outgoing');
    const client = new AgentClient(agentId, lanes.outgoing, { protocol, logger });
    methodInFlight = (id) => client.methodInFlight(id);
    overBound = (id, method, bytes) => client.refuseAnswer(id, answerTooLarge(agentId, method, bytes));
    new UpstreamDispatcher(this.deps.heartbeats, this.deps.upstream, lanes.incoming, agentId, logger, this.deps.hostFacts, protocol);
    // The connection this one replaces leaves the link now, not once its socket has closed: work
    // sent meanwhile would go to a connection on its way out (the new one joins after its opening calls).
    const replaced = this.sockets.get(agentId);
    if (replaced) {
      agents.remove(agentId, replaced.client);
      replaced.socket.close(CLOSE_CODES.REPLACED, 'another connection of this agent replaced this one');
    }
    this.sockets.set(agentId, { socket, client });
    socket.once('close', (code: number, reason: Buffer) => {
      if (this.sockets.get(agentId)?.socket === socket) this.sockets.delete(agentId);
      agents.remove(agentId, client);
      // The agent closed its connection itself (rsp agent stopped), not a loss.
      if (code === CLOSE_CODES.STOPPING) logger.info({ agent: agentId, code, reason: reason.toString() }, 'host agent stopped');
      else logger.warn({ agent: agentId, code, reason: reason.toString() }, 'host agent disconnected');
    });
    try {
      const hello = await client.connect(openingCall());
      await this.deps.hostFacts.recordFacts(agentId, await client.hostFacts({}, openingCall()));
      if (socket.readyState !== socket.OPEN) return;
      this.peers.set(agentId, { version: hello.software, remoteAddress: address, protocol });
      agents.add(client, 'remote');
      logger.info({ agent: agentId, address, software: hello.software, protocol, enrolled: !!credential }, 'host agent connected');
      void this.deps.onConnected?.(agentId).catch((e: unknown) => logger.warn({ err: e, agent: agentId }, 'could not settle the environments of a reconnected agent'));
    } catch (e) {
      logger.warn({ err: e, agent: agentId }, 'a host agent failed its opening calls: its connection is closed');
      socket.close(CLOSE_CODES.MALFORMED, closeReason(`opening calls failed: ${(e as Error).message}`));
    }
  }
}

/** How long an agent has to answer the opening calls (hello, drivers). */
const OPENING_CALL_MS = 30_000;

function openingCall(): CallContext {
  return { operationId: randomUUID(), deadline: new Date(Date.now() + OPENING_CALL_MS).toISOString() };
}
