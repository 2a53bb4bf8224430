import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import { AgentDialer } from '../../../gateway/agent/remote/agent-dialer';
import type { AgentHandshake } from '../../../gateway/agent/remote/handshake';
import { until } from '../../helpers/until';

const logger = pino({ level: 'silent' });

/** A stand-in gateway on 127.0.0.1 that answers each handshake as `answer` says. */
async function fakeGateway(answer: (hello: AgentHandshake, n: number) => { close: [number, string] } | { credential?: string }) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const handshakes: AgentHandshake[] = [];
  wss.on('connection', (socket) =>
    socket.once('message', (data) => {
      const hello = JSON.parse(data.toString()) as AgentHandshake;
      handshakes.push(hello);
      const a = answer(hello, handshakes.length);
      if ('close' in a) socket.close(...a.close);
      else socket.send(JSON.stringify({ type: 'welcome', protocol: AGENT_PROTOCOL_VERSION, agentId: 'a1', ...(a.credential ? { credential: a.credential } : {}) }));
    }),
  );
  return { url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, handshakes, close: () => new Promise<void>((r) => wss.close(() => r())) };
}

const agent = { id: 'a1' } as HostAgent;

describe('rsp agent dialling its gateway', () => {
  test('a dropped connection is dialled again (backoff); the credential got at enrolment is saved 0600 and used from then on', async () => {
    const gw = await fakeGateway((_hello, n) => (n === 1 ? { close: [1011, 'gateway restarting'] } : n === 2 ? { credential: 'rspa_saved' } : {}));
    const dataDir = mkdtempSync(join(tmpdir(), 'rsp-dialer-'));
    const dialer = new AgentDialer({ gateway: gw.url, token: 'rspj_join', dataDir, logger, backoff: { baseMs: 10, maxMs: 50 }, makeAgent: async () => agent });
    const running = dialer.run();
    await until('the second handshake', () => gw.handshakes.length >= 2, 10_000, 10);
    expect(gw.handshakes.map((h) => h.secret)).toEqual(['rspj_join', 'rspj_join']);
    // The file first holds the credential offered while enrolling; the welcome's one replaces it.
    await until('the welcome\'s credential saved', () => {
      try {
        return (JSON.parse(readFileSync(join(dataDir, 'agent-credential.json'), 'utf8')) as { credential: string }).credential === 'rspa_saved';
      } catch {
        return false;
      }
    }, 10_000, 10);
    expect(statSync(join(dataDir, 'agent-credential.json')).mode & 0o777).toBe(0o600);
    dialer.stop();
    await running;
    const again = new AgentDialer({ gateway: gw.url, token: 'rspj_join', dataDir, logger, backoff: { baseMs: 10, maxMs: 50 }, makeAgent: async () => agent });
    const second = again.run();
    await until('the third handshake', () => gw.handshakes.length >= 3, 10_000, 10);
    expect(gw.handshakes[2]).toMatchObject({ secret: 'rspa_saved', agentId: 'a1', protocol: AGENT_PROTOCOL_VERSION - 1, newestProtocol: AGENT_PROTOCOL_VERSION });
    again.stop();
    await second;
    await gw.close();
  });

  test('a gateway that goes silent (no ping, no frame) is dropped and dialled again', async () => {
    const gw = await fakeGateway(() => ({}));
    const dialer = new AgentDialer({ gateway: gw.url, token: 'rspj_join', dataDir: mkdtempSync(join(tmpdir(), 'rsp-dialer-')), logger, gatewaySilenceMs: 100, backoff: { baseMs: 10, maxMs: 50 }, makeAgent: async () => agent });
    const running = dialer.run();
    await until('a handshake after the silence', () => gw.handshakes.length >= 2, 10_000, 10);
    dialer.stop();
    await running;
    await gw.close();
  });

  test('a refused secret or another protocol version ends the agent with a clear error instead of retrying', async () => {
    const gw = await fakeGateway((_hello, n) => ({ close: n === 1 ? [4401, 'Agent refused: unknown join token'] : [4426, 'protocol mismatch: the gateway speaks 9'] }));
    const dial = () => new AgentDialer({ gateway: gw.url, token: 'rspj_x', dataDir: mkdtempSync(join(tmpdir(), 'rsp-dialer-')), logger, backoff: { baseMs: 10, maxMs: 50 }, makeAgent: async () => agent }).run();
    await expect(dial()).rejects.toMatchObject({ category: 'UNAUTHENTICATED', message: expect.stringMatching(/unknown join token/) });
    await expect(dial()).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringMatching(/protocol mismatch/) });
    expect(gw.handshakes).toHaveLength(2);
    await gw.close();
  });
});
