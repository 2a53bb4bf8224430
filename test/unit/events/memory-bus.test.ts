import { createMemoryPubSub, MemoryBus } from '../../../gateway/events/pubsub';

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
});
