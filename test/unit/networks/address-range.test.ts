import { randomUUID } from 'node:crypto';
import { assignable, assignableCount, defaultAddressRange, hostAddressRange, ipv6At, ipv6RangeText, managedNetworkName, parseAddressRange, parseIpv6Range, rangeGateway, rangeText } from '../../../gateway/networks/address-range';
import { ipv4Text } from '../../../drivers/host/ipv4';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertIpv6Available, ipv6Groups, ipv6Text } from '../../../drivers/host/ipv6';
import { assertFeaturesSupported } from '../../../drivers/errors';
import { FakeDriver } from '../../../drivers/fake';
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

  test('IPv6 addresses are read and written in their canonical form', () => {
    expect(ipv6Groups('fd12:3456:789a::2')).toEqual([0xfd12, 0x3456, 0x789a, 0, 0, 0, 0, 2]);
    expect(ipv6Groups('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('fd00:0:0:0:1:0:0:0')).toEqual([0xfd00, 0, 0, 0, 1, 0, 0, 0]);
    for (const bad of ['10.0.0.1', 'fd00::1::2', '::ffff:10.0.0.1', 'fe80::1%eth0', 'g::1']) expect(ipv6Groups(bad)).toBeUndefined();
    expect(ipv6Text([0xfd12, 0x3456, 0x789a, 0, 0, 0, 0, 2])).toBe('fd12:3456:789a::2');
    expect(ipv6Text([0xfd00, 0, 0, 0, 1, 0, 0, 0])).toBe('fd00::1:0:0:0');
    expect(ipv6Text([0xfd00, 1, 0, 1, 0, 1, 0, 1])).toBe('fd00:1:0:1:0:1:0:1');
    expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
  });

  test('an IPv6 range is a /64 (or auto: a unique local one); an environment takes the index of its IPv4 address in it', () => {
    expect(ipv6RangeText(parseIpv6Range('FD12:3456:789A:0001::/64'))).toBe('fd12:3456:789a:1::/64');
    const auto = ipv6RangeText(parseIpv6Range('auto'));
    expect(auto).toMatch(/^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/);
    expect(ipv6RangeText(parseIpv6Range('auto'))).not.toBe(auto);
    for (const bad of ['fd12::1/64', 'fd12::/48', 'fd12::', '10.0.0.0/24', 'fd12::/64/1']) expect(() => parseIpv6Range(bad)).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    const range = parseIpv6Range('fd12:3456:789a::/64');
    expect(ipv6At(range, 1)).toBe('fd12:3456:789a::1');
    expect(ipv6At(range, 0x1_0002)).toBe('fd12:3456:789a::1:2');
  });

  test('the managed network of a spec carries its IPv6 side: the /64, the gateway and the address; a wrong one is BAD_USER_INPUT', () => {
    expect(managedNetworkOf({ mode: 'bridge', network: 'rsp-x', ipv4: '10.126.3.9/29', gateway: '10.126.3.1', ipv6: 'fd12:3456:789a:0::9/64', gateway6: 'fd12:3456:789a::1' })?.ipv6).toEqual({ subnet: 'fd12:3456:789a::/64', gateway: 'fd12:3456:789a::1', address: 'fd12:3456:789a::9' });
    expect(() => managedNetworkOf({ mode: 'bridge', network: 'rsp-x', ipv4: '10.126.3.9/29', gateway: '10.126.3.1', ipv6: 'fd12:3456:789a::9/48', gateway6: 'fd12:3456:789a::1' })).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    expect(() => managedNetworkOf({ mode: 'bridge', network: 'rsp-x', ipv4: '10.126.3.9/29', gateway: '10.126.3.1', ipv6: 'fd12:3456:789a::9/64', gateway6: 'fd12:3456:789b::1' })).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
  });

  test('a host whose kernel has IPv6 off, or a driver without IPv6, refuses an IPv6 address with the reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rsp-ipv6-'));
    try {
      await writeFile(join(dir, 'disable_ipv6'), '1\n');
      await expect(assertIpv6Available('bridge rspx', join(dir, 'disable_ipv6'))).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining('IPv6 disabled (net.ipv6.conf.all.disable_ipv6 = 1)') });
      await expect(assertIpv6Available('bridge rspx', join(dir, 'missing'))).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining('has no IPv6') });
      await writeFile(join(dir, 'disable_ipv6'), '0\n');
      await expect(assertIpv6Available('bridge rspx', join(dir, 'disable_ipv6'))).resolves.toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => assertFeaturesSupported(new FakeDriver(), { hostname: 'x', network: { mode: 'bridge', network: 'rsp-x', ipv4: '10.0.0.2/24', gateway: '10.0.0.1', ipv6: 'fd12::2/64', gateway6: 'fd12::1' } })).toThrow(expect.objectContaining({ category: 'UNSUPPORTED_OPERATION', message: expect.stringContaining("clear the host's ipv6Range") }));
  });
});
