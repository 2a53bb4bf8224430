import { isThisMachine } from '../../../gateway/metrics/metrics-sampler';

describe('isThisMachine (RSP_LOCAL_HOST)', () => {
  const host = { id: '6f1c0c55-1111-4222-8333-944455556666', hostname: 'zaphod' };

  test('matches the host by id or by hostname, case-insensitively', () => {
    expect(isThisMachine(host, host.id)).toBe(true);
    expect(isThisMachine(host, 'zaphod')).toBe(true);
    expect(isThisMachine(host, 'ZAPHOD')).toBe(true);
  });

  test('a short name matches the first label of a fully qualified one, either way round', () => {
    expect(isThisMachine(host, 'zaphod.example.org')).toBe(true);
    expect(isThisMachine({ ...host, hostname: 'zaphod.example.org' }, 'zaphod')).toBe(true);
    expect(isThisMachine({ ...host, hostname: 'zaphod.example.org' }, 'zaphod.example.org')).toBe(true);
  });

  test('another machine does not match', () => {
    expect(isThisMachine(host, 'trillian')).toBe(false);
    expect(isThisMachine(host, 'zaphodx')).toBe(false);
    expect(isThisMachine({ ...host, hostname: 'zaphod.example.org' }, 'zaphod.other.org')).toBe(false);
    expect(isThisMachine(host, '6f1c0c55-1111-4222-8333-000000000000')).toBe(false);
  });
});
