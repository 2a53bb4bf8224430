import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { SharedRateBuckets } from '../../gateway/limits/shared-buckets';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { until } from '../helpers/until';
import { freePort } from '../helpers/free-port';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** A Redis of this test's own on `port` (it is stopped and started again: the shared one is not), without persistence. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const buckets = new SharedRateBuckets(`redis://127.0.0.1:${port}`, 'probe:', logger);
  try {
    // Ready once a take is counted there: 1 a minute, so the second take waits.
    await until('the private Redis answers', async () => (await buckets.buckets('probe', 1).take(`k${Date.now()}`)) === 0 && (await buckets.buckets('probe', 1).take('same')) > 0, 20_000, 100);
  } finally {
    await buckets.close();
  }
  return child;
}

/** Stops a child process and waits for it to exit. */
async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * The rate limits with REDIS_URL: two gateway replicas on one PostgreSQL and one Redis count each
 * client's rate together (RATE_LIMITED and Retry-After from either), and a Redis that goes away
 * makes each replica count on its own — never an error — until it is back.
 */
describeWithEngine('redis', 'rate limits shared by gateway replicas (Redis)', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let redis: ChildProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // 60 anonymous queries a minute per address: one replica alone would let 60 through, two on their own 120.
    const shared = { REDIS_URL, RSP_IMAGE_DIR: join(db.dataDir, 'images'), RSP_RATE_QUERIES_PER_MINUTE: '60' };
    a = await startTestGateway(db, shared);
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-rate-replica-b-')) }, { ...shared, RSP_LOCAL_AGENT_ID: `gw-b-${process.pid}` });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
    await stop(redis);
  });

  /** An anonymous query to `t` from the client address `address`: its status, Retry-After and first error. */
  async function query(t: TestGateway, address: string) {
    const res = await fetch(t.gateway.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address }, body: JSON.stringify({ query: '{ gateway { site } }' }) });
    const body = (await res.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
    return { status: res.status, retryAfter: res.headers.get('retry-after'), error: body.errors?.[0] };
  }

  test('a client going to both replicas in turn is refused after the rate of one (429 RATE_LIMITED, Retry-After), by either replica', async () => {
    const address = `198.51.100.${process.pid % 250}`;
    let admitted = 0;
    let over: Awaited<ReturnType<typeof query>> | undefined;
    for (let i = 0; i < 200 && !over; i++) {
      const r = await query(i % 2 ? b : a, address);
      if (r.status === 429) over = r;
      else {
        expect(r.status).toBe(200);
        admitted++;
      }
    }
    // 60 and what refilled while the test sent (one a second); counted by each replica alone it would be 120 and more.
    expect(admitted).toBeGreaterThanOrEqual(60);
    expect(admitted).toBeLessThan(120);
    expect(over).toMatchObject({ retryAfter: expect.stringMatching(/^\d+$/), error: { message: expect.stringMatching(/at most 60 a minute per address without a token \(RSP_RATE_QUERIES_PER_MINUTE\)/), extensions: { code: 'RATE_LIMITED' } } });
    // The other replica refuses it too; another address is not slowed.
    const other = admitted % 2 ? a : b;
    expect((await query(other === a ? b : a, address)).status).toBe(429);
    expect((await query(other, `203.0.113.${process.pid % 250}`)).status).toBe(200);
  });

  test('a gateway whose Redis goes away counts on its own (never an error) and shares again once Redis is back', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    const c = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-rate-replica-c-')) }, { REDIS_URL: url, RSP_REDIS_PREFIX: `rate-test-${process.pid}:`, RSP_IMAGE_DIR: join(db.dataDir, 'images'), RSP_RATE_QUERIES_PER_MINUTE: '60', RSP_LOCAL_AGENT_ID: `gw-c-${process.pid}` });
    try {
      expect((await query(c, '192.0.2.1')).status).toBe(200);
      await stop(redis);
      // Redis gone: the gateway answers, and limits on its own (60, then 429).
      let admitted = 0;
      let last = 200;
      for (let i = 0; i < 200 && last !== 429; i++) {
        last = (await query(c, '192.0.2.2')).status;
        if (last === 200) admitted++;
        else expect(last).toBe(429);
      }
      expect(last).toBe(429);
      expect(admitted).toBeGreaterThanOrEqual(60);
      // Back: counted on Redis again (a fresh Redis: the address's bucket there is full).
      redis = await startRedis(port);
      await until('the gateway counts on Redis again', async () => (await query(c, '192.0.2.2')).status === 200, 30_000, 500);
    } finally {
      await c.close();
    }
  });
});
