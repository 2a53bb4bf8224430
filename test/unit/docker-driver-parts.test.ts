import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDockerConfig } from '../../drivers/docker/config';
import { configEnvText, interfaceToCreateOptions } from '../../drivers/docker/interface';
import { limitsFromHostConfig, limitsToHostConfig } from '../../drivers/docker/limits';
import { normaliseStats } from '../../drivers/docker/stats';

/** The Docker driver's pure parts: connection defaults, limit mapping, interface options, stats units. */
describe('Docker driver parts', () => {
  test('connection: explicit socket, DOCKER_HOST unix and tcp, default socket', () => {
    expect(resolveDockerConfig({ socketPath: '/s.sock' }, { DOCKER_HOST: 'tcp://h:1' }).connection).toEqual({ socketPath: '/s.sock' });
    expect(resolveDockerConfig({}, { DOCKER_HOST: 'unix:///run/d.sock' }).connection).toEqual({ socketPath: '/run/d.sock' });
    expect(resolveDockerConfig({}, { DOCKER_HOST: 'tcp://10.0.0.2:2375' }).connection).toEqual({ host: '10.0.0.2', port: 2375, protocol: 'http' });
    expect(resolveDockerConfig({}, {}).connection).toEqual({ socketPath: '/var/run/docker.sock' });
  });

  test('state directory: the one given, never one from the gateway\'s RSP_DATA_DIR', () => {
    expect(resolveDockerConfig({ stateDir: '/d/docker' }, {}).stateDir).toBe('/d/docker');
    expect(resolveDockerConfig({}, { RSP_DATA_DIR: '/d' }).stateDir).toBe(join(tmpdir(), 'rsp-docker'));
  });

  test('limits map to HostConfig and back (weight 100 ↔ 1024 shares)', () => {
    const host = limitsToHostConfig({ cpuWeight: 100, cpuQuota: 1.5, memoryBytes: 1 << 30, pids: 100 });
    expect(host).toEqual({ CpuShares: 1024, NanoCpus: 1_500_000_000, Memory: 1 << 30, PidsLimit: 100 });
    expect(limitsFromHostConfig(host)).toEqual({ cpuWeight: 100, cpuQuota: 1.5, memoryBytes: 1 << 30, pids: 100 });
    expect(limitsFromHostConfig({ CpuShares: 0, Memory: 0, PidsLimit: -1 })).toEqual({});
  });

  test('interface: env, config.env bind, DNS, log driver, static address and hostname alias on a named network', () => {
    const options = interfaceToCreateOptions(
      { hostname: 'h', dns: ['192.0.2.1'], network: { mode: 'bridge', bridge: 'rspnet', ipv4: '10.9.0.5/24' }, log: { target: 'syslog', address: 'udp://10.0.0.1:514' }, config: { A: 'x y' } },
      [{ name: 'data', kind: 'data', hostPath: '/srv/d', mountPath: '/data', readOnly: true }],
      '/state/e1',
    );
    expect(options.Env).toEqual(['A=x y']);
    expect(options.HostConfig).toMatchObject({ Binds: ['/state/e1/config.env:/etc/rsp/config.env:ro', '/srv/d:/data:ro', '/state/e1/resolv.conf:/etc/resolv.conf:ro'], Dns: ['192.0.2.1'], NetworkMode: 'rspnet', LogConfig: { Type: 'syslog', Config: { 'syslog-address': 'udp://10.0.0.1:514' } } });
    expect(options.NetworkingConfig).toEqual({ EndpointsConfig: { rspnet: { IPAMConfig: { IPv4Address: '10.9.0.5' }, Aliases: ['h'] } } });
    expect(configEnvText({ A: '1', B: 'two' })).toBe('A=1\nB=two\n');
  });

  test('stats: cgroup v1 sample → contract units', () => {
    const s = normaliseStats({
      read: '2026-01-01T00:00:00Z',
      cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 } },
      memory_stats: { usage: 10_000, limit: 64 * 1024 * 1024, stats: { total_inactive_file: 4_000 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 100 }, { op: 'Write', value: 50 }, { op: 'Read', value: 1 }, { op: 'Total', value: 151 }] },
      networks: { eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
      pids_stats: { current: 3 },
    });
    expect(s).toEqual({ at: new Date('2026-01-01T00:00:00Z'), cpuSeconds: 2.5, memoryBytes: 6_000, memoryLimitBytes: 64 * 1024 * 1024, diskReadBytes: 101, diskWriteBytes: 50, networkRxBytes: 11, networkTxBytes: 22, pids: 3 });
  });

  test('stats: a stopped container (empty sample) gives zeros', () => {
    const now = new Date();
    expect(normaliseStats({ read: '0001-01-01T00:00:00Z', blkio_stats: { io_service_bytes_recursive: null } }, now)).toEqual({ at: now, cpuSeconds: 0, memoryBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0 });
  });
});
