import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostCollector } from '../../../gateway/metrics/host-collector';
import { parseDiskstats, parseLoadavg, parseMeminfo, parseMounts, parseNetDev, parseProcStat, ProcReader } from '../../../gateway/metrics/proc-readers';

const STAT = 'cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\ncpu1 50 0 50 350 50 0 0 0 0 0\nintr 1 2 3\n';
const MEMINFO = 'MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\nSwapTotal:       200 kB\nSwapFree:        150 kB\n';
const DISKSTATS = '   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0\n 253       0 vda 10 0 200 5 20 0 400 9 0 10 14\n 253       1 vda1 10 0 200 5 20 0 400 9 0 10 14\n';
const NETDEV = 'Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  eth0: 5000 50 0 0 0 0 0 0 3000 30 0 0 0 0 0 0\n';

describe('/proc parsers', () => {
  test('CPU lines: busy excludes idle and iowait', () => {
    expect(parseProcStat(STAT)).toEqual([
      { name: 'cpu', busy: 200, total: 1000 },
      { name: 'cpu0', busy: 100, total: 500 },
      { name: 'cpu1', busy: 100, total: 500 },
    ]);
  });

  test('meminfo in bytes, used = total − available', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalBytes: 1024000, availableBytes: 409600, usedBytes: 614400, swapTotalBytes: 204800, swapUsedBytes: 51200 });
  });

  test('diskstats keeps whole disks, counts 512-byte sectors', () => {
    expect(parseDiskstats(DISKSTATS, new Set(['vda']))).toEqual([{ device: 'vda', readBytes: 200 * 512, writeBytes: 400 * 512 }]);
  });

  test('net/dev, loadavg and mounts', () => {
    expect(parseNetDev(NETDEV)).toEqual([
      { interface: 'lo', rxBytes: 1000, rxPackets: 10, txBytes: 1000, txPackets: 10 },
      { interface: 'eth0', rxBytes: 5000, rxPackets: 50, txBytes: 3000, txPackets: 30 },
    ]);
    expect(parseLoadavg('0.50 0.25 0.10 1/100 42\n')).toEqual({ one: 0.5, five: 0.25, fifteen: 0.1 });
    expect(parseMounts('proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw 0 0\n/dev/vda1 /var/lib/docker ext4 rw 0 0\n')).toEqual([{ device: '/dev/vda1', mountPoint: '/' }]);
  });

  test('the collector turns counters into usage and rates between two samples', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rsp-proc-'));
    mkdirSync(join(root, 'proc', 'net'), { recursive: true });
    mkdirSync(join(root, 'sys', 'block', 'vda'), { recursive: true });
    const write = (stat: string, disk: string, net: string) => {
      writeFileSync(join(root, 'proc', 'stat'), stat);
      writeFileSync(join(root, 'proc', 'meminfo'), MEMINFO);
      writeFileSync(join(root, 'proc', 'loadavg'), '1 1 1 1/1 1\n');
      writeFileSync(join(root, 'proc', 'diskstats'), disk);
      writeFileSync(join(root, 'proc', 'net', 'dev'), net);
    };
    write(STAT, DISKSTATS, NETDEV);
    const collector = new HostCollector(new ProcReader({ proc: join(root, 'proc'), sys: join(root, 'sys') }));
    const first = await collector.sample(10_000);
    expect(first.cpu.usage).toBe(0);
    write('cpu  150 0 150 750 150 0 0 0 0 0\ncpu0 100 0 100 350 50 0 0 0 0 0\ncpu1 50 0 50 400 100 0 0 0 0 0\n', DISKSTATS.replace('vda 10 0 200', 'vda 10 0 400'), NETDEV.replace('eth0: 5000', 'eth0: 7000'));
    const second = await collector.sample(12_000);
    expect(second.cpu.usage).toBeCloseTo(100 / 200);
    expect(second.cpu.cores).toEqual([1, 0]);
    expect(second.disks).toEqual([expect.objectContaining({ device: 'vda', readBytesPerSecond: (200 * 512) / 2, writeBytesPerSecond: 0 })]);
    expect(second.networks.find((n) => n.interface === 'eth0')?.rxBytesPerSecond).toBe(1000);
    expect(second.memory.usedBytes).toBeLessThanOrEqual(second.memory.totalBytes);
  });

  test('the real /proc of this machine reads sane values', async () => {
    const collector = new HostCollector();
    await collector.sample();
    await new Promise((r) => setTimeout(r, 200));
    const s = await collector.sample();
    expect(s.memory.totalBytes).toBeGreaterThan(0);
    expect(s.memory.usedBytes).toBeLessThanOrEqual(s.memory.totalBytes);
    expect(s.cpu.cores.length).toBeGreaterThan(0);
    expect(s.cpu.usage).toBeGreaterThanOrEqual(0);
    expect(s.cpu.usage).toBeLessThanOrEqual(1);
    expect(s.networks.some((n) => n.interface === 'lo')).toBe(true);
    expect(s.filesystems.length).toBeGreaterThan(0);
  });
});
