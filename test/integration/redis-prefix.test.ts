import { randomUUID } from 'node:crypto';
import { RedisReplicaBus } from '../../gateway/agent/replicas/redis-replica-bus';
import { createRedisPubSub, type PubSubHandle } from '../../gateway/events/pubsub';
import { describeWithEngine, REDIS_URL } from '../helpers/engines';
import { until } from '../helpers/until';

/**
 * Two installations on one Redis, each under its own prefix (RSP_REDIS_PREFIX): events, agent
 * directory keys and relay channels of one are never seen by the other; replicas of one installation
 * (same prefix) see each other's.
 */
describeWithEngine('redis', 'Redis keys and channels under the installation prefix', () => {
  const run = randomUUID().slice(0, 8);
  const mine = `rsp-test-${run}-a:`;
  const theirs = `rsp-test-${run}-b:`;
  const handles: PubSubHandle[] = [];
  const buses: RedisReplicaBus[] = [];
  afterAll(async () => {
    await Promise.all([...handles.map((h) => h.close()), ...buses.map((b) => b.close())]);
  });

  test('events published by one installation reach its own replicas, never another installation', async () => {
    const [publisher, sibling, stranger] = [mine, mine, theirs].map((prefix) => {
      const handle = createRedisPubSub(REDIS_URL, undefined, prefix);
      handles.push(handle);
      return handle.pubSub;
    });
    const heardBySibling: string[] = [];
    const heardByStranger: string[] = [];
    sibling!.listen('TOKEN_REVOKED', undefined, (id) => heardBySibling.push(id));
    stranger!.listen('TOKEN_REVOKED', undefined, (id) => heardByStranger.push(id));
    // Subscriptions are sent on their own connection: publish until the sibling hears one.
    await until('the sibling replica hears its installation', () => {
      publisher!.publish('TOKEN_REVOKED', 'mine');
      return heardBySibling.includes('mine');
    }, 20_000, 50);
    // The stranger's own event, published after: once it has it, it would have had ours too.
    await until('the other installation hears its own', () => {
      stranger!.publish('TOKEN_REVOKED', 'theirs');
      return heardByStranger.includes('theirs');
    }, 20_000, 50);
    expect(heardByStranger).not.toContain('mine');
    expect(heardBySibling).not.toContain('theirs');
  });

  test('the replicas bus keeps each installation\'s keys and channels apart, and hides the prefix', async () => {
    const a = new RedisReplicaBus(REDIS_URL, mine);
    const b = new RedisReplicaBus(REDIS_URL, theirs);
    buses.push(a, b);
    await a.setWithTtl('agent-at:x', 'replica-a', 60_000);
    await b.setWithTtl('agent-at:x', 'replica-b', 60_000);
    expect(await a.entries('agent-at:')).toEqual(new Map([['agent-at:x', 'replica-a']]));
    expect(await b.entries('agent-at:')).toEqual(new Map([['agent-at:x', 'replica-b']]));
    await a.deleteIfEquals('agent-at:x', 'replica-a');
    expect(await a.entries('agent-at:')).toEqual(new Map());
    expect(await b.entries('agent-at:')).toEqual(new Map([['agent-at:x', 'replica-b']]));
    await b.deleteIfEquals('agent-at:x', 'replica-b');

    const heardByA: string[] = [];
    const heardByB: string[] = [];
    await a.subscribe('agents:directory', (m) => heardByA.push(m));
    await b.subscribe('agents:directory', (m) => heardByB.push(m));
    await a.publish('agents:directory', 'from-a');
    await b.publish('agents:directory', 'from-b');
    await until('each hears its own', () => heardByA.includes('from-a') && heardByB.includes('from-b'), 20_000, 20);
    expect(heardByA).toEqual(['from-a']);
    expect(heardByB).toEqual(['from-b']);
  });
});
