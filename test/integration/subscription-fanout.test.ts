import WebSocket from 'ws';
import type { HostSample } from '../../gateway/metrics/samples';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { collect, startTestGateway, TestGateway, untilReceiving } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

/** A sample of `hostId` whose `filesystems` make its frame about `bytes` long. */
function bigSample(hostId: string, siteId: string, at: number, bytes: number): HostSample {
  const filesystems = Array.from({ length: Math.ceil(bytes / 60) }, (_, i) => ({ device: `/dev/fake${i}`, mountPoint: `/mnt/volume-${String(i).padStart(8, '0')}`, totalBytes: 1e12, usedBytes: i }));
  return { hostId, siteId, at, source: 'test', agent: 'local', cpu: { usage: 0.5, cores: [0.5] }, load: { one: 1, five: 1, fifteen: 1 }, memory: { totalBytes: 8e9, usedBytes: 4e9, availableBytes: 4e9 }, swap: { totalBytes: 0, usedBytes: 0 }, disks: [], filesystems, networks: [] };
}

/** A graphql-transport-ws connection opened by hand, so the test can stop reading it. */
function rawSubscriber(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
  const received: any[] = [];
  const connected = new Promise<void>((resolve, reject) => {
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.on('error', reject);
    socket.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: 'slow-1', type: 'subscribe', payload: { query, variables } }));
        resolve();
      } else if (m.type === 'next') {
        expect(m.id).toBe('slow-1');
        received.push(m.payload.data);
      }
    });
  });
  const tcp = () => (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  return { socket, received, connected, pause: () => tcp().pause(), resume: () => tcp().resume() };
}

/** Shared fan-out over graphql-ws: one execution per query, the subscriber's own id and drop count in each frame, slow subscribers isolated. */
describe('subscription fan-out', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '0', RSP_SUBSCRIBER_BUFFER: '5' });
    w = await buildWorld(t);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('subscribers with different queries, aliases and fragments each get their own shape of every event', async () => {
    const plain = collect<{ hostMetrics: any }>(t.ws(), 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId at dropped } }', { h: w.host1 }, (e) => e.hostMetrics.memory === undefined && e.hostMetrics.at.endsWith('.003Z'));
    const again = collect<{ hostMetrics: any }>(t.ws({ authorization: `Bearer ${w.tokens.memberB}` }), 'subscription ($h: ID!) { hostMetrics(hostId: $h) { hostId at dropped } }', { h: w.host1 }, (e) => e.hostMetrics.at.endsWith('.003Z'));
    const aliased = collect<{ m: any }>(
      t.ws({ authorization: `Bearer ${w.tokens.viewerA}` }),
      'subscription Aliased($h: ID!) { m: hostMetrics(hostId: $h) { ...Memory d: dropped ... on HostMetrics { dropped } } } fragment Memory on HostMetrics { memory { usedBytes } }',
      { h: w.host1 },
      (e) => e.m.memory.usedBytes === 3,
    );
    await Promise.all([plain.ready, again.ready, aliased.ready]);
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    // Samples at `base` itself until each subscription is registered; the test's own come after.
    await untilReceiving([plain, again, aliased].map((s) => ({ received: () => s.events.length })), () => t.gateway.services.metrics.publishHost(bigSample(w.host1, w.site, base, 0)));
    for (let i = 1; i <= 3; i++) {
      const s = bigSample(w.host1, w.site, base + i, 0);
      s.memory.usedBytes = i;
      t.gateway.services.metrics.publishHost(s);
      await new Promise((r) => setTimeout(r, 20));
    }
    const afterBase = (e: { hostMetrics: { at: string } }) => Date.parse(e.hostMetrics.at) > base;
    const [p, a, al] = [(await plain.done).filter(afterBase), (await again.done).filter(afterBase), (await aliased.done).filter((e) => e.m.memory.usedBytes <= 3)];
    expect(p.map((e) => e.hostMetrics)).toEqual([1, 2, 3].map((i) => ({ hostId: w.host1, at: new Date(base + i).toISOString(), dropped: 0 })));
    expect(a).toEqual(p);
    expect(al.map((e) => e.m)).toEqual([1, 2, 3].map((i) => ({ memory: { usedBytes: i }, d: 0, dropped: 0 })));
  });

  test('a subscriber that stops reading loses the oldest events (counted, and told in its frames) while another gets every one', async () => {
    const query = 'subscription ($h: ID!) { hostMetrics(hostId: $h) { at dropped filesystems { mountPoint } } }';
    const count = 300;
    const base = Date.parse('2026-02-01T00:00:00.000Z');
    const last = new Date(base + count).toISOString();
    const fast = collect<{ hostMetrics: { at: string; dropped: number } }>(t.ws(), query, { h: w.host1 }, (e) => e.hostMetrics.at === last, 60_000);
    const slow = rawSubscriber(t.gateway.websocketUrl, t.adminToken, query, { h: w.host1 });
    await Promise.all([fast.ready, slow.connected]);
    await untilReceiving([{ received: () => fast.events.length }, { received: () => slow.received.length }], () => t.gateway.services.metrics.publishHost(bigSample(w.host1, w.site, base, 0)));
    const droppedBefore = (await t.gateway.services.metrics.prometheus.dropped.get()).values.reduce((n, v) => n + v.value, 0);
    slow.pause();
    // 300 frames of ~64 KB: far more than the paused socket's kernel buffers hold.
    for (let i = 1; i <= count; i++) {
      t.gateway.services.metrics.publishHost(bigSample(w.host1, w.site, base + i, 64 * 1024));
      await new Promise((r) => setTimeout(r, 3));
    }
    const fastEvents = (await fast.done).filter((e) => Date.parse(e.hostMetrics.at) > base);
    expect(fastEvents).toHaveLength(count);
    expect(fastEvents.every((e) => e.hostMetrics.dropped === 0)).toBe(true);
    const dropped = (await t.gateway.services.metrics.prometheus.dropped.get()).values.reduce((n, v) => n + v.value, 0) - droppedBefore;
    expect(dropped).toBeGreaterThan(0);

    slow.resume();
    const deadline = Date.now() + 30_000;
    while (slow.received[slow.received.length - 1]?.hostMetrics.at !== last && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const got = slow.received.filter((e) => Date.parse(e.hostMetrics.at) > base);
    expect(got[got.length - 1].hostMetrics).toMatchObject({ at: last, dropped });
    expect(got.length + dropped).toBe(count);
    const ats = got.map((e) => Date.parse(e.hostMetrics.at));
    expect([...ats].sort((x, y) => x - y)).toEqual(ats);
    slow.socket.close();
  }, 120_000);
});
