// The simulated host agents of bench/agents.ts, run as a few separate processes (child_process.fork):
// each holds many WebSocket connections to the gateway's /agent endpoint and, per connection, does
// what `rsp agent` does on the wire — the handshake with a real secret (a join token with the credential
// it chose the first time — again after a welcome lost on the way —, then that credential), the answers to the gateway's opening calls (hello, hostFacts: the facts
// at connect), a `heartbeat` call every RSP_HEARTBEAT_MS (the welcome's pace, at the welcome's phase), and reconnection with the dialer's own backoff and
// jitter when the connection drops — without any driver behind it.
import WebSocket from 'ws';
import type { HostFactsData } from '../gateway/agent/host-facts';
import { AGENT_PROTOCOL_VERSION } from '../gateway/agent/protocol';
import type { AgentFrame, RequestFrame } from '../gateway/agent/protocol';
import { agentUrl } from '../gateway/agent/remote/agent-dialer';
import { reconnectDelay } from '../gateway/agent/remote/reconnect-backoff';
import { nextBeatDelay } from '../gateway/agent/remote/agent-heartbeat';
import { FINAL_CLOSE_CODES, newAgentCredential } from '../gateway/agent/remote/handshake';
import type { AgentHandshake, GatewayWelcome } from '../gateway/agent/remote/handshake';
import { RSP_VERSION } from '../gateway/version';

/** What the parent sends. */
export type SwarmCommand =
  | { type: 'start'; gateway: string; agents: Array<{ id: string; secret: string }>; facts: HostFactsData }
  | { type: 'drop' }
  | { type: 'cpu' }
  | { type: 'exit' };

/** What a child answers. */
export type SwarmReport =
  | { type: 'started' }
  | { type: 'dropped' }
  | { type: 'cpu'; cpu: NodeJS.CpuUsage }
  | { type: 'refused'; agent: string; code: number; reason: string };

/** One simulated agent: its secret (its join token until welcomed), the credential it chose, its live socket and how many dials failed in a row. */
interface Simulated {
  id: string;
  secret: string;
  credential: string;
  enrolling: boolean;
  socket?: WebSocket;
  attempt: number;
  beat?: NodeJS.Timeout;
}

let facts: HostFactsData;
let url = '';
let stopping = false;
const agents: Simulated[] = [];

const send = (report: SwarmReport) => process.send?.(report);

function answer(agent: Simulated, socket: WebSocket, frame: RequestFrame): void {
  const reply = (result: unknown) => socket.send(JSON.stringify({ type: 'result', id: frame.id, result } satisfies AgentFrame));
  switch (frame.method) {
    case 'hello':
      return reply({ agentId: agent.id, protocol: AGENT_PROTOCOL_VERSION, software: RSP_VERSION });
    case 'hostFacts':
      return reply({ ...facts, hostname: agent.id, reportedAt: new Date().toISOString() });
    case 'drivers':
    case 'listEnvironments':
      return reply([]);
    default:
      socket.send(JSON.stringify({ type: 'error', id: frame.id, error: { category: 'UNSUPPORTED_OPERATION', message: `a simulated agent does not ${frame.method}`, details: {} } } satisfies AgentFrame));
  }
}

/** One connection of `agent`, to its close; then, unless refused for good, the next after the backoff. */
function dial(agent: Simulated): void {
  if (stopping) return;
  const socket = new WebSocket(url);
  agent.socket = socket;
  let welcomed = false;
  socket.on('error', () => undefined);
  socket.on('open', () => {
    const hello: AgentHandshake = { type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: agent.secret, software: RSP_VERSION, agentId: agent.id, ...(agent.enrolling ? { credential: agent.credential } : {}) };
    socket.send(JSON.stringify(hello));
  });
  socket.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as GatewayWelcome | AgentFrame;
    if (message.type === 'welcome') {
      welcomed = true;
      if (agent.enrolling) {
        agent.secret = message.credential ?? agent.credential;
        agent.enrolling = false;
      }
      // Its heartbeat: an upstream call at the gateway's pace, answered with a lease (not needed here: no environment to fence).
      let beats = 0;
      const beat = () => {
        const frame: AgentFrame = { type: 'request', id: `beat-${(beats += 1)}`, protocol: AGENT_PROTOCOL_VERSION, method: 'heartbeat', params: { sentAt: Date.now(), fenced: [] }, context: { operationId: `beat-${agent.id}` } };
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
      };
      beat();
      // At the phase the welcome names, as `rsp agent` does (`AgentHeartbeat`); every interval from now without one.
      const phase = message.beatPhaseMs;
      if (phase === undefined) agent.beat = setInterval(beat, message.heartbeatMs);
      else {
        const next = (afterBeat: boolean) => {
          agent.beat = setTimeout(() => {
            beat();
            next(true);
          }, nextBeatDelay(Date.now(), message.heartbeatMs, phase, afterBeat));
        };
        next(false);
      }
      return;
    }
    if (message.type === 'request') answer(agent, socket, message);
  });
  socket.on('close', (code: number, reason: Buffer) => {
    clearTimeout(agent.beat);
    if (agent.socket === socket) agent.socket = undefined;
    if (stopping) return;
    if (FINAL_CLOSE_CODES.has(code)) return send({ type: 'refused', agent: agent.id, code, reason: reason.toString() });
    if (welcomed) agent.attempt = 0;
    setTimeout(() => dial(agent), reconnectDelay(agent.attempt++));
  });
}

process.on('message', (command: SwarmCommand) => {
  switch (command.type) {
    case 'start':
      facts = command.facts;
      url = agentUrl(command.gateway);
      for (const a of command.agents) {
        const agent: Simulated = { id: a.id, secret: a.secret, credential: newAgentCredential(), enrolling: true, attempt: 0 };
        agents.push(agent);
        dial(agent);
      }
      send({ type: 'started' });
      return;
    case 'drop':
      // Every connection drops at once (a network blip): each agent dials again after its backoff.
      for (const agent of agents) agent.socket?.terminate();
      send({ type: 'dropped' });
      return;
    case 'cpu':
      send({ type: 'cpu', cpu: process.cpuUsage() });
      return;
    case 'exit':
      stopping = true;
      for (const agent of agents) agent.socket?.close(1000, 'the bench is over');
      setTimeout(() => process.exit(0), 200);
  }
});
