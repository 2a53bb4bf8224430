import { spawn } from 'node:child_process';
import { stat } from 'node:fs';
import pino from 'pino';
import { AGENT_PROTOCOL_VERSION } from '../../../gateway/agent/protocol';
import type { AgentServerDeps } from '../../../gateway/agent/remote/agent-server';
import { until } from '../../helpers/until';
import { serveAgentServer } from './served-agent-server';

/** A connection whose frames kept coming is not silent, even when the gateway could not read them for a while. */
describe('agent server: silence is judged on what was read', () => {
  test('after a stall of the gateway longer than silenceMs, a connection whose frames arrived meanwhile is not cut', async () => {
    // Its secret is checked forever: the connection stays open, judged for silence as any.
    const deps = { logger: pino({ level: 'silent' }), credentials: { onRevoked: () => undefined, authenticate: () => new Promise(() => undefined) }, heartbeatMs: 50, silenceMs: 300, handshakeTimeoutMs: 60_000 } as unknown as AgentServerDeps;
    const served = await serveAgentServer(deps);
    // The peer in another process: its handshake, then a small frame every 10 ms whatever this process does.
    const script = `const WebSocket = require('ws');
      const ws = new WebSocket(process.argv[1]);
      ws.on('open', () => { ws.send(JSON.stringify({ type: 'handshake', protocol: ${AGENT_PROTOCOL_VERSION}, secret: 'rspj_checked-forever', software: 'test' })); setInterval(() => ws.send('.'), 10); console.log('open'); });
      ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });`;
    const peer = spawn(process.execPath, ['-e', script, served.url], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    peer.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await until('the peer connected', () => out.includes('open'), 30_000, 10);
      // Some beats pass: the server has seen the connection (and heard it) before the stall.
      await new Promise((r) => setTimeout(r, 10 * deps.heartbeatMs));
      // This process (the gateway) blocked for longer than silenceMs in an I/O callback, as a request's handler would be
      // (the next turn of the event loop runs its timers before it reads its sockets): the peer's frames wait in the socket.
      await new Promise<void>((resolve) =>
        stat('.', () => {
          const end = Date.now() + 5 * deps.silenceMs;
          while (Date.now() < end);
          resolve();
        }),
      );
      // Beats after the stall: each judges the connection heard.
      await new Promise((r) => setTimeout(r, 10 * deps.heartbeatMs));
      expect(out).not.toContain('closed');
    } finally {
      peer.kill();
      await served.close();
    }
  });
});
