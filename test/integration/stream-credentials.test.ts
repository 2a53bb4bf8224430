import type { Client as WsClient } from 'graphql-ws';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootfsTar } from '../../drivers/fake';
import { SYSTEM } from '../../gateway/auth/principal';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';
import { until } from '../helpers/until';

/** What one subscription received: results, errors, whether it completed, and how its connection closed. */
interface Watched {
  data: Array<Record<string, any>>;
  errors: Array<{ message: string; extensions?: { code?: string } }>;
  completed: boolean;
  /** The connection was acknowledged (its token checked). */
  connected: boolean;
  closed?: { code: number; reason: string };
}

/** Subscribes and records everything the subscription and its connection go through. */
function watch(client: WsClient, query: string, variables: Record<string, unknown> = {}): Watched {
  const seen: Watched = { data: [], errors: [], completed: false, connected: false };
  client.on('connected', () => (seen.connected = true));
  client.subscribe(
    { query, variables },
    {
      next: (v) => (v.errors ? seen.errors.push(...(v.errors as Watched['errors'])) : seen.data.push(v.data as Record<string, any>)),
      error: (e) => {
        const close = e as { code?: number; reason?: string };
        if (typeof close.code === 'number') seen.closed = { code: close.code, reason: close.reason ?? '' };
        else seen.errors.push({ message: String(e) });
      },
      complete: () => (seen.completed = true),
    },
  );
  return seen;
}

const ENV_METRICS = 'subscription ($e: ID!) { environmentMetrics(environmentId: $e) { environmentId } }';
const EVENTS = 'subscription { events { kind operation { kind } } }';
const OPERATION_UPDATED = 'subscription { operationUpdated { kind state } }';

describe('streams follow credentials and visibility', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let image: string;

  const token = async (input: Record<string, unknown>) => (await t.ok('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } secret } }', { i: input })).createToken as { token: { id: string }; secret: string };
  const environment = async (name: string) => {
    const created = (await t.ok('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: w.groupA, hostId: w.host1, imageId: image, name } })).createEnvironment;
    await t.gateway.services.operations.settled(created.operation.id);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { startEnvironment(id: $id) { id } }', { id: created.environment.id })).startEnvironment.id);
    return created.environment.id as string;
  };
  const operationOfGroupA = async (kind: string) => t.gateway.services.operations.settled((await t.gateway.services.operations.start({ kind, groupId: w.groupA }, async () => ({ ok: true }))).id);

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db, { RSP_METRICS_INTERVAL_MS: '200' });
    w = await buildWorld(t);
    image = (await t.ok('mutation ($i: RegisterImageInput!) { registerImage(input: $i) { id } }', { i: { vendorGroupId: w.groupA, name: 'fake', version: '1', technology: 'fake' } })).registerImage.id;
    await t.upload(image, createRootfsTar({ '/etc/hostname': 'x' }));
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  test('revoking a token closes its open connections with 4403: environmentMetrics, events and operationUpdated stop', async () => {
    const env = await environment('revoked-watch');
    const { token: { id }, secret } = await token({ groupId: w.groupA, role: 'MEMBER', name: 'to-revoke' });
    const client = t.ws({ authorization: `Bearer ${secret}` });
    const metrics = watch(client, ENV_METRICS, { e: env });
    const events = watch(client, EVENTS);
    const operations = watch(client, OPERATION_UPDATED);
    await until('samples of the environment', () => metrics.data.length > 0, 15_000);
    await until('the operation on both streams', async () => {
      await operationOfGroupA('before.revoke');
      return events.data.some((e) => e.events.operation?.kind === 'before.revoke') && operations.data.some((e) => e.operationUpdated.kind === 'before.revoke');
    }, 15_000);

    await t.ok('mutation ($id: ID!) { revokeToken(id: $id) { revokedAt } }', { id });
    const closed = await until('the connection to close', () => metrics.closed, 10_000);
    expect(closed).toEqual({ code: 4403, reason: 'Forbidden: the token was revoked' });
    expect(events.closed).toEqual(closed);
    expect(operations.closed).toEqual(closed);

    // Nothing more arrives: the streams ended with the connection.
    const counts = [metrics.data.length, events.data.length, operations.data.length];
    await operationOfGroupA('after.revoke');
    expect([metrics.data.length, events.data.length, operations.data.length]).toEqual(counts);
    expect(events.data.some((e) => e.events.operation?.kind === 'after.revoke')).toBe(false);
  });

  test("a token's connections close with 4403 when it expires", async () => {
    const { secret } = await token({ groupId: w.groupA, role: 'VIEWER', name: 'short-lived', expiresAt: new Date(Date.now() + 6_000).toISOString() });
    const events = watch(t.ws({ authorization: `Bearer ${secret}` }), EVENTS);
    await until('the connection to be acknowledged', () => events.connected, 10_000);
    await until('an event on the stream', async () => {
      await operationOfGroupA('before.expiry');
      return events.data.length > 0 || events.closed;
    }, 10_000);
    const closed = await until('the connection to close', () => events.closed, 15_000);
    expect(closed).toEqual({ code: 4403, reason: 'Forbidden: the token expired' });
  });

  test("deleting a group closes its tokens' connections with 4403", async () => {
    const gamma = (await t.ok('mutation ($i: CreateGroupInput!) { createGroup(input: $i) { id } }', { i: { slug: 'gamma', name: 'Gamma', contact: 'gamma@example.org' } })).createGroup.id as string;
    const { secret } = await token({ groupId: gamma, role: 'ADMIN', name: 'gamma-admin' });
    const events = watch(t.ws({ authorization: `Bearer ${secret}` }), EVENTS);
    await until('the connection to be acknowledged', () => events.connected, 10_000);
    const deletion = (await t.ok('mutation ($id: ID!) { deleteGroup(id: $id, mode: DESTROY) { id } }', { id: gamma }, secret)).deleteGroup.id as string;
    await t.gateway.services.operations.settled(deletion);
    expect(await until('the connection to close', () => events.closed, 10_000)).toEqual({ code: 4403, reason: 'Forbidden: the token was revoked' });
  });

  test('environmentMetrics ends with NOT_FOUND once the group may no longer see the environment; the connection stays', async () => {
    const env = await environment('handed-over');
    const client = t.ws({ authorization: `Bearer ${w.tokens.memberA}` });
    const metrics = watch(client, ENV_METRICS, { e: env });
    const events = watch(client, EVENTS);
    await until('samples of the environment', () => metrics.data.length > 0, 15_000);

    // The environment changes hands (as a group deletion's handover does), and access changes are announced (a share revoked).
    await t.gateway.dataSource.query('UPDATE environment SET "groupId" = $1 WHERE id = $2', [w.groupB, env]);
    const share = await t.gateway.services.shares.grant(SYSTEM, { hostId: w.host2, groupId: w.groupB, kind: 'HALF' as never });
    await t.ok('mutation ($id: ID!) { revokeShare(id: $id) }', { id: share.id });

    await until('the subscription to end', () => metrics.completed, 10_000);
    expect(metrics.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    expect(metrics.closed).toBeUndefined();
    // The connection's other subscriptions go on.
    await until('events after the end', async () => {
      await operationOfGroupA('after.handover');
      return events.data.some((e) => e.events.operation?.kind === 'after.handover');
    }, 10_000);
  });

  test('environmentMetrics ends with NOT_FOUND when the environment is destroyed', async () => {
    const env = await environment('to-destroy');
    const metrics = watch(t.ws({ authorization: `Bearer ${w.tokens.memberA}` }), ENV_METRICS, { e: env });
    await until('samples of the environment', () => metrics.data.length > 0, 15_000);
    await t.gateway.services.operations.settled((await t.ok('mutation ($id: ID!) { destroyEnvironment(id: $id) { id } }', { id: env })).destroyEnvironment.id);
    await until('the subscription to end', () => metrics.completed, 10_000);
    expect(metrics.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'NOT_FOUND' }) })]);
  });
});

describeWithEngine('redis', 'a revocation on one replica closes the connections another replica holds', () => {
  let db: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestGateway(db, { REDIS_URL });
    b = await startTestGateway({ ...db, dataDir: mkdtempSync(join(tmpdir(), 'rsp-replica-b-')) }, { REDIS_URL, RSP_LOCAL_AGENT_ID: `gw-b-${Date.now().toString(36)}` });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  test('revokeToken on replica A: the socket on replica B closes with 4403', async () => {
    const issued = (await a.ok('mutation { createToken(input: { name: "replicated", siteAdmin: true }) { token { id } secret } }')).createToken as { token: { id: string }; secret: string };
    const events = watch(b.ws({ authorization: `Bearer ${issued.secret}` }), EVENTS);
    await until('the subscription on B to deliver', async () => {
      await b.gateway.services.operations.settled((await b.gateway.services.operations.start({ kind: 'on.b' }, async () => ({}))).id);
      return events.data.length > 0;
    }, 15_000);
    await a.ok('mutation ($id: ID!) { revokeToken(id: $id) { revokedAt } }', { id: issued.token.id });
    expect(await until('the connection on B to close', () => events.closed, 10_000)).toEqual({ code: 4403, reason: 'Forbidden: the token was revoked' });
  });
});
