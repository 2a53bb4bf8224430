import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { RspProcess, runRsp, spawnRsp } from '../helpers/cli';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';

/**
 * `rsp serve` stops on SIGTERM and exits 0, with the embedded PGlite
 * database as with PostgreSQL (Apollo's own signal handler once raced the gateway's and left the
 * PGlite process alive after "stopping").
 */
describe.each(DATABASE_KINDS)('rsp serve stops on SIGTERM (%s)', (kind) => {
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    dataDir = mkdtempSync(join(tmpdir(), 'rsp-stop-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('after serving a request, with a subscription open, it closes the subscription\'s socket (1001), logs "gateway stopped" and exits with code 0', async () => {
    const server = spawnRsp(['serve', '--port', '0', '--data-dir', dataDir], { LOG_FORMAT: 'json', LOG_LEVEL: 'info', RSP_DRIVERS: 'fake', RSP_BOOTSTRAP_IMAGE: 'off', DATABASE_URL: db.databaseUrl ?? '' });
    try {
      const [, url] = await server.waitFor(/GraphQL endpoint:\s+(\S+)/, 120_000);
      const [token] = await server.waitFor(/\brsp_[A-Za-z0-9_-]{20,}/);
      const res = await fetch(url!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
      expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
      // A subscriber: its socket is closed as "going away" (clients reconnect), not left hanging.
      const socket = new WebSocket(url!.replace(/^http/, 'ws'), 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
      const acked = new Promise((resolve) => socket.once('message', resolve));
      await new Promise((resolve) => socket.on('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      expect(JSON.parse(String(await acked))).toMatchObject({ type: 'connection_ack' });
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: 'subscription { events { kind } }' } }));
      server.child.kill('SIGTERM');
      expect(await closed).toBe(1001);
      const { code, stdout, stderr } = await server.exited;
      expect(stdout + stderr).toMatch(/"msg":"gateway stopped"/);
      expect(code).toBe(0);
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    }
  });
});

/** `rsp agent` stopped on SIGTERM exits 0, and its gateway logs that as information, not a warning. */
describe('rsp agent stops on SIGTERM', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rsp-agent-stop-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test('the agent exits 0; the gateway logs "host agent stopped" at info, no "host agent disconnected" warning', async () => {
    const server = spawnRsp(['serve', '--port', '0', '--data-dir', join(dataDir, 'gateway')], { LOG_FORMAT: 'json', LOG_LEVEL: 'info', RSP_DRIVERS: 'fake', DATABASE_URL: '' });
    let agent: RspProcess | undefined;
    try {
      const [, url] = await server.waitFor(/Dashboard:\s+(http:\/\/\S+?)\/? /, 120_000);
      // The first start prints the site admin's token once.
      const [token] = await server.waitFor(/\brsp_[A-Za-z0-9_-]{20,}/);
      const created = await runRsp(['--url', url!, '--token', token, '--json', 'agent', 'token', 'create', 'stopping-agent', '--ttl', '600'], {});
      expect(created.code).toBe(0);
      agent = spawnRsp(['agent', '--gateway', url!.replace(/^http/, 'ws'), '--token', JSON.parse(created.stdout).token as string, '--drivers', 'fake', '--data-dir', join(dataDir, 'agent')], { LOG_FORMAT: 'json', LOG_LEVEL: 'info' });
      await agent.waitFor(/connected to the gateway/);
      await server.waitFor(/"agent":"stopping-agent"[^\n]*"msg":"host agent connected"/);
      agent.child.kill('SIGTERM');
      expect((await agent.exited).code).toBe(0);
      const [line] = await server.waitFor(/^.*"msg":"host agent stopped".*$/m);
      expect(JSON.parse(line)).toMatchObject({ level: 30, agent: 'stopping-agent', code: 1000 });
      expect(server.output().stdout).not.toMatch(/host agent disconnected/);
    } finally {
      if (agent && agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
