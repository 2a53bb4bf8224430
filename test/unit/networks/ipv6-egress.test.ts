import { egressRules6, isUniqueLocal } from '../../../drivers/host/ipv6-egress';

describe('IPv6 egress of a managed network', () => {
  test('a unique local range is fc00::/7; a global one is not', () => {
    expect(isUniqueLocal('fd12:3456:789a::/64')).toBe(true);
    expect(isUniqueLocal('fc00::/64')).toBe(true);
    expect(isUniqueLocal('2001:db8:1:2::/64')).toBe(false);
    expect(isUniqueLocal('fe80::/64')).toBe(false);
    expect(isUniqueLocal('not an address')).toBe(false);
  });

  test('a unique local range is masqueraded towards anything outside it; a global one only forwarded (routed upstream)', () => {
    const ula = egressRules6('fd12:3456:789a::/64');
    expect(ula).toContainEqual(['nat', 'POSTROUTING', '-s', 'fd12:3456:789a::/64', '!', '-d', 'fd12:3456:789a::/64', '-m', 'comment', '--comment', 'rsp-managed', '-j', 'MASQUERADE']);
    expect(ula.filter(([table]) => table === 'filter')).toHaveLength(2);
    const global = egressRules6('2001:db8:1:2::/64');
    expect(global.map(([table]) => table)).toEqual(['filter', 'filter']);
  });
});
