import { createMemoryPubSub, MemoryBus, RedisBus } from '../../../gateway/events/pubsub';

describe('the in-memory event bus', () => {
  test('listen gets each payload of its topic and id; a listener removed during a dispatch is skipped, one added waits for the next', () => {
    const pubSub = createMemoryPubSub();
    const got: string[] = [];
    let stopB: () => void = () => undefined;
    pubSub.listen('TOKEN_REVOKED', undefined, (id) => {
      got.push(`a:${id}`);
      stopB();
      pubSub.listen('TOKEN_REVOKED', undefined, (later) => got.push(`c:${later}`));
    });
    stopB = pubSub.listen('TOKEN_REVOKED', undefined, (id) => got.push(`b:${id}`));
    pubSub.listen('HOST_METRICS', 'other', () => got.push('wrong host'));
    pubSub.publish('TOKEN_REVOKED', 't1');
    expect(got).toEqual(['a:t1']);
    pubSub.publish('TOKEN_REVOKED', 't2');
    expect(got).toEqual(['a:t1', 'a:t2', 'c:t2']);
  });

  test('event listeners (the PubSub async iterators) get the event, once however often added, and no more once removed', () => {
    const bus = new MemoryBus();
    const seen: unknown[] = [];
    const listener = (e: Event) => seen.push((e as CustomEvent).detail);
    bus.addEventListener('T', listener);
    bus.addEventListener('T', listener);
    bus.dispatchEvent(new CustomEvent('T', { detail: 1 }));
    bus.removeEventListener('T', listener);
    bus.dispatchEvent(new CustomEvent('T', { detail: 2 }));
    expect(seen).toEqual([1]);
  });

  test('the Redis bus publishes to Redis, subscribes a channel while it has listeners, and hands what Redis delivers to them, parsed once', () => {
    const calls: string[] = [];
    const bus = new RedisBus({ publish: (c, m) => calls.push(`publish ${c} ${m}`), subscribe: (c) => calls.push(`subscribe ${c}`), unsubscribe: (c) => calls.push(`unsubscribe ${c}`) });
    const seen: unknown[] = [];
    const stopA = bus.listen('T:1', (d) => seen.push(d));
    const stopB = bus.listen('T:1', (d) => seen.push(d));
    const listener = (e: Event) => seen.push((e as CustomEvent).detail);
    bus.addEventListener('T:1', listener);
    expect(calls).toEqual(['subscribe T:1']);
    bus.dispatchEvent(new CustomEvent('T:1', { detail: { at: new Date(0) } }));
    expect(calls[1]).toBe('publish T:1 {"at":{"$date":"1970-01-01T00:00:00.000Z"}}');
    expect(seen).toEqual([]);
    bus.received('T:1', '{"at":{"$date":"1970-01-01T00:00:00.000Z"}}');
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual({ at: new Date(0) });
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    bus.received('T:2', '{}');
    bus.received('T:1', '');
    expect(seen.slice(3)).toEqual([null, null, null]);
    stopA();
    stopB();
    expect(calls).toHaveLength(2);
    bus.removeEventListener('T:1', listener);
    expect(calls[2]).toBe('unsubscribe T:1');
    bus.received('T:1', '{}');
    expect(seen).toHaveLength(6);
  });
});
