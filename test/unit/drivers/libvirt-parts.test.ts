import { DOMAIN_STATE } from '../../../drivers/libvirt/binding';
import { resolveLibvirtOptions, technologyForUri } from '../../../drivers/libvirt/options';
import { idleStats, statsFromLibvirt } from '../../../drivers/libvirt/stats';
import { esc, unesc } from '../../../drivers/libvirt/domain-xml/xml';

describe('libvirt driver parts', () => {
  test('technologies from connection URIs', () => {
    expect(technologyForUri('qemu:///system', true)).toBe('libvirt-kvm');
    expect(technologyForUri('qemu:///system', false)).toBe('libvirt-qemu');
    expect(technologyForUri('qemu+ssh://host/system', false)).toBe('libvirt-qemu');
    expect(technologyForUri('xen:///system')).toBe('libvirt-xen');
    expect(technologyForUri('lxc:///')).toBe('libvirt-lxc');
    expect(technologyForUri('test:///default')).toBe('libvirt-qemu');
    expect(() => technologyForUri('vbox:///session')).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    expect(() => resolveLibvirtOptions({ uri: 'qemu:///system extra' })).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    expect(resolveLibvirtOptions({ uri: 'test:///default', technology: 'libvirt-xen' })).toMatchObject({ domainType: 'xen', name: 'libvirt-xen', isTestUri: true });
  });

  test('escaping round-trips every metacharacter', () => {
    const nasty = `<a href="x">&amp;'b'</a>]]>`;
    expect(esc(nasty)).not.toMatch(/[<>"']/);
    expect(unesc(esc(nasty))).toBe(nasty);
    expect(unesc('&#60;&#x3e;')).toBe('<>');
  });

  test('stats: CPU and memory from getInfo, block and interface counters summed from domstats', () => {
    const info = { state: DOMAIN_STATE.RUNNING, maxMem: 262144, memory: 262144, nrVirtCpu: 1, cpuTime: 2_500_000_000 };
    const at = new Date(0);
    expect(statsFromLibvirt(info, undefined, at)).toEqual({
      at, cpuSeconds: 2.5, memoryBytes: 262144 * 1024, memoryLimitBytes: 262144 * 1024, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0,
    });
    const domstats = {
      'cpu.time': '3000000000', 'balloon.rss': '50000',
      'block.0.rd.bytes': '100', 'block.1.rd.bytes': '20', 'block.0.wr.bytes': '7', 'block.count': '2',
      'net.0.rx.bytes': '5', 'net.1.rx.bytes': '6', 'net.0.tx.bytes': '9', 'net.0.rx.pkts': '1000',
    };
    expect(statsFromLibvirt(info, domstats, at)).toMatchObject({ cpuSeconds: 3, memoryBytes: 50000 * 1024, diskReadBytes: 120, diskWriteBytes: 7, networkRxBytes: 11, networkTxBytes: 9 });
    expect(idleStats(info, at)).toMatchObject({ cpuSeconds: 0, memoryBytes: 0, memoryLimitBytes: 262144 * 1024 });
  });
});
