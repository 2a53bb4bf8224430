import { spawn } from 'node:child_process';
import { stat, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HostAgent } from '../../../gateway/agent/host-agent';
import { AgentDialer } from '../../../gateway/agent/remote/agent-dialer';
import { until } from '../../helpers/until';

/** A gateway whose pings kept coming is not silent, even when the agent could not read them for a while. */
describe('rsp agent: the gateway\'s silence is judged on what was read', () => {
  test('after a stall of the agent longer than gatewaySilenceMs, a gateway whose pings arrived meanwhile is not dropped', async () => {
    const silenceMs = 300;
    // The gateway in another process: it takes the connection, never welcomes it, and pings it every 50 ms whatever this process does
    // (the stall's pings stay well under the pongs ws lets wait, `maxPendingAutoPongs`, past which it drops a ping flood).
    const script = `const { WebSocketServer } = require('ws');
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
      wss.on('listening', () => console.log('port ' + wss.address().port));
      wss.on('connection', (ws) => { console.log('connected'); const t = setInterval(() => ws.ping(), 50); ws.on('close', (code) => { clearInterval(t); console.log('closed ' + code); }); });`;
    const gateway = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gateway.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const dataDir = mkdtempSync(join(tmpdir(), 'rsp-dialer-silence-'));
    let dialer: AgentDialer | undefined;
    let running: Promise<void> | undefined;
    try {
      await until('the gateway listening', () => /port \d+/.test(out), 30_000, 10);
      const port = /port (\d+)/.exec(out)![1];
      dialer = new AgentDialer({ gateway: `http://127.0.0.1:${port}`, token: 'rspj_join', dataDir, logger, gatewaySilenceMs: silenceMs, makeAgent: async () => ({ id: 'a1' }) as HostAgent });
      running = dialer.run();
      await until('the agent connected', () => out.includes('connected'), 30_000, 10);
      // Some checks pass: the dialer has heard the gateway before the stall.
      await new Promise((r) => setTimeout(r, 2 * silenceMs));
      // This process (the agent) blocked for longer than gatewaySilenceMs in an I/O callback, as a long task would be
      // (the next turn of the event loop runs its timers before it reads its sockets): the gateway's pings wait in the socket.
      await new Promise<void>((resolve) =>
        stat('.', () => {
          const end = Date.now() + 5 * silenceMs;
          while (Date.now() < end);
          resolve();
        }),
      );
      // Checks after the stall: each judges the gateway heard.
      await new Promise((r) => setTimeout(r, 3 * silenceMs));
      expect(warnings).toEqual([]);
      expect(out).not.toContain('closed');
    } finally {
      dialer?.stop();
      await running;
      gateway.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
