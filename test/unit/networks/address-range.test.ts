import { randomUUID } from 'node:crypto';
import { assignable, assignableCount, defaultAddressRange, hostAddressRange, managedNetworkName, parseAddressRange, rangeGateway, rangeText } from '../../../gateway/networks/address-range';
import { ipv4Text } from '../../../drivers/host/ipv4';
import { managedNetworkOf } from '../../../drivers/docker/network';

describe('address ranges', () => {
  test('a range is read, written back and checked (prefix 8–29, host bits zero)', () => {
    expect(rangeText(parseAddressRange(' 10.42.0.0/24 '))).toBe('10.42.0.0/24');
    for (const bad of ['10.42.0.1/24', '10.42.0.0/30', '10.42.0.0', '10.42.0.0/7', '300.1.1.0/24', '10.42.0.0/24/1', 'fd00::/64']) {
      expect(() => parseAddressRange(bad)).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    }
  });

  test('environments take all but the network, the gateway and the broadcast address, lowest first', () => {
    const range = parseAddressRange('192.168.50.0/29');
    expect(ipv4Text(rangeGateway(range))).toBe('192.168.50.1');
    expect([...assignable(range)].map(ipv4Text)).toEqual(['192.168.50.2', '192.168.50.3', '192.168.50.4', '192.168.50.5', '192.168.50.6']);
    expect(assignableCount(range)).toBe(5);
  });

  test("a host without a range of its own gets a /24 of 10.128.0.0/9 picked from its id, the same each time; the network name fits a Linux bridge", () => {
    const id = randomUUID();
    const range = defaultAddressRange(id);
    expect(range.prefix).toBe(24);
    expect(rangeText(range)).toMatch(/^10\.(1[3-9]\d|12[89]|2[0-4]\d|25[0-5])\.\d+\.0\/24$/);
    expect(hostAddressRange({ id, addressRange: null })).toEqual(range);
    expect(rangeText(hostAddressRange({ id, addressRange: '10.9.0.0/16' }))).toBe('10.9.0.0/16');
    expect(managedNetworkName(id).length).toBeLessThanOrEqual(15);
  });

  test('the Docker driver reads the managed network of a spec: name, subnet, gateway, address', () => {
    expect(managedNetworkOf({ mode: 'bridge', network: 'rsp-x', ipv4: '10.126.3.9/29', gateway: '10.126.3.1' })).toEqual({ name: 'rsp-x', subnet: '10.126.3.8/29', gateway: '10.126.3.1', address: '10.126.3.9' });
    expect(managedNetworkOf({ mode: 'bridge' })).toBeUndefined();
    expect(managedNetworkOf({ mode: 'none' })).toBeUndefined();
    expect(managedNetworkOf({ mode: 'bridge', bridge: 'lxcbr0', ipv4: '10.0.3.9/24', gateway: '10.0.3.1' })).toBeUndefined();
    expect(() => managedNetworkOf({ mode: 'bridge', network: 'rsp-x', ipv4: '10.126.3.9', gateway: '10.126.3.1' })).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
  });
});
