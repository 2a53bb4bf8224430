import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import { AgentDialer, gatewayList } from '../../../gateway/agent/remote/agent-dialer';
import { until } from '../../helpers/until';

const logger = pino({ level: 'silent' });
const agent = { id: 'a1' } as HostAgent;

/** A stand-in gateway replica that counts handshakes and welcomes each one (or closes it, while `refusing`). */
async function replica() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const state = { handshakes: 0, refusing: false };
  wss.on('connection', (socket) =>
    socket.once('message', () => {
      state.handshakes++;
      if (state.refusing) socket.close(1011, 'replica restarting');
      else socket.send(JSON.stringify({ type: 'welcome', protocol: AGENT_PROTOCOL_VERSION, agentId: 'a1' }));
    }),
  );
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    state,
    /** Drops every agent connected to it. */
    dropAll: () => wss.clients.forEach((c) => c.close(1012, 'replica going away')),
    close: () => new Promise<void>((r) => wss.close(() => r())),
  };
}

describe('rsp agent with several gateway replicas (--gateway a,b)', () => {
  test('the list is read from commas', () => {
    expect(gatewayList('https://a.example.org, https://b.example.org,')).toEqual(['https://a.example.org', 'https://b.example.org']);
  });

  test('a lost connection is dialled again on the next replica, in turn, with backoff', async () => {
    const a = await replica();
    const b = await replica();
    const dialer = new AgentDialer({ gateway: `${a.url},${b.url}`, token: 'rspj_join', dataDir: mkdtempSync(join(tmpdir(), 'rsp-failover-')), logger, backoff: { baseMs: 10, maxMs: 50 }, makeAgent: async () => agent });
    const running = dialer.run();
    await until('connected to A', () => a.state.handshakes === 1, 10_000, 10);
    expect(b.state.handshakes).toBe(0);
    // A drops its agents and refuses them while it restarts: the agent moves to B.
    a.state.refusing = true;
    a.dropAll();
    await until('connected to B', () => b.state.handshakes === 1, 10_000, 10);
    expect(a.state.handshakes).toBe(1);
    // B goes away in turn: back to A, which refuses (restarting), then B again, until one welcomes.
    b.state.refusing = true;
    b.dropAll();
    await until('A dialled again', () => a.state.handshakes >= 2, 10_000, 10);
    a.state.refusing = false;
    await until('B dialled again', () => b.state.handshakes >= 2, 10_000, 10);
    await until('welcomed by A again', () => a.state.handshakes >= 3, 10_000, 10);
    dialer.stop();
    await running;
    await Promise.all([a.close(), b.close()]);
  });
});
