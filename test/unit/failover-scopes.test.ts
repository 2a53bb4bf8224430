import { FailoverScopes } from '../../gateway/services/failover-scopes';

describe('FailoverScopes: failover scopes kept between the beats that read them', () => {
  test('a scope is answered from memory until its agent, or every agent, is marked after it was read', () => {
    const scopes = new FailoverScopes();
    expect(scopes.fresh('a')).toBeUndefined();
    scopes.store('a', ['e1'], ['h1'], scopes.now());
    scopes.store('b', [], ['h2'], scopes.now());
    expect(scopes.fresh('a')).toEqual(['e1']);
    expect(scopes.agentOf('h1')).toBe('a');

    scopes.mark('a');
    expect(scopes.fresh('a')).toBeUndefined();
    expect(scopes.fresh('b')).toEqual([]);
    scopes.store('a', ['e1', 'e2'], ['h1'], scopes.now());
    expect(scopes.fresh('a')).toEqual(['e1', 'e2']);

    scopes.markAll();
    expect(scopes.fresh('a')).toBeUndefined();
    expect(scopes.fresh('b')).toBeUndefined();
  });

  test('a scope whose read began before a mark is stale as soon as it is stored; an older read never replaces a newer one', () => {
    const scopes = new FailoverScopes();
    const before = scopes.now();
    scopes.mark('a');
    scopes.store('a', ['old'], [], before);
    expect(scopes.fresh('a')).toBeUndefined();

    const newer = scopes.now();
    scopes.store('a', ['new'], [], newer);
    scopes.store('a', ['old'], [], before);
    expect(scopes.fresh('a')).toEqual(['new']);
  });

  test('an agent that left is read again when it is back; the agents of hosts are remembered', () => {
    const scopes = new FailoverScopes();
    scopes.store('a', ['e1'], ['h1'], scopes.now());
    scopes.forget('a');
    expect(scopes.fresh('a')).toBeUndefined();
    expect(scopes.agentOf('h1')).toBe('a');
    scopes.learn('h9', 'z');
    expect(scopes.agentOf('h9')).toBe('z');
  });
});
