import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import WebSocket from 'ws';
import { PendingCalls } from '../../../gateway/agent/pending-calls';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import { AgentServer, type AgentServerDeps } from '../../../gateway/agent/remote/agent-server';
import { CLOSE_CODES } from '../../../gateway/agent/remote/handshake';
import { fromWireError } from '../../../gateway/agent/wire-error';
import type { WireError } from '../../../gateway/agent/protocol';

/**
 * A host agent is a machine the gateway does not control: one whose credential an attacker holds
 * (a compromised host) may send anything a frame can carry. None of it may end the gateway.
 */
describe('a hostile host agent', () => {
  test('an error whose category is a name every object inherits is INTERNAL, not a throw', () => {
    for (const category of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const e = fromWireError({ category, message: 'boom', details: {} } as unknown as WireError);
      expect(e).toMatchObject({ category: 'INTERNAL', message: 'boom' });
      expect(e).toBeInstanceOf(Error);
    }
    const calls = new PendingCalls();
    const rejected: unknown[] = [];
    calls.add('1', { method: 'hello', resolve: () => undefined, reject: (e) => rejected.push(e) });
    expect(() => calls.receive(JSON.stringify({ type: 'error', id: '1', error: { category: '__proto__', message: 'x' } }))).not.toThrow();
    expect(rejected).toEqual([expect.objectContaining({ category: 'INTERNAL', message: 'x' })]);
  });

  describe('over a real connection', () => {
    let http: Server;
    let agents: AgentServer;
    let url = '';

    beforeAll(async () => {
      // The credential check admits anyone as agent "evil"; the agent's opening calls fail before anything else is used.
      const deps = {
        logger: pino({ level: 'silent' }),
        credentials: { onRevoked: () => undefined, authenticate: async () => ({ agentId: 'evil' }) },
        agents: { add: () => undefined, remove: () => undefined },
        hostFacts: { recordFacts: async () => undefined },
        heartbeats: {},
        upstream: {},
        heartbeatMs: 60_000,
        silenceMs: 120_000,
      } as unknown as AgentServerDeps;
      agents = new AgentServer(deps);
      http = createServer();
      http.on('upgrade', (req, socket, head) => agents.handleUpgrade(req, socket, head));
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/agent`;
    });
    afterAll(async () => {
      await agents.close();
      await new Promise((resolve) => http.close(resolve));
    });

    /** An agent that answers the gateway's first call with `answer(id)`; resolves with the close code and reason the gateway closes with. */
    const hostileAgent = (answer: (id: string) => unknown) =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.once('error', reject);
        ws.once('open', () => ws.send(JSON.stringify({ type: 'handshake', protocol: AGENT_PROTOCOL_VERSION, secret: 'rspa_whatever', software: 'evil-1' })));
        ws.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { type: string; id?: string };
          if (frame.type === 'request') ws.send(JSON.stringify(answer(frame.id!)));
        });
        ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
      });

    test('answering its opening call with an error of category "__proto__" closes its connection (MALFORMED), the gateway goes on', async () => {
      const closed = await hostileAgent((id) => ({ type: 'error', id, error: { category: '__proto__', message: 'boom' } }));
      expect(closed).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: boom/) });
      // Still serving: the next one is refused the same way, by a live server.
      const again = await hostileAgent((id) => ({ type: 'error', id, error: { category: 'constructor', message: 'again' } }));
      expect(again).toEqual({ code: CLOSE_CODES.MALFORMED, reason: expect.stringMatching(/^opening calls failed: again/) });
    });
  });
});
