import type { DomainModel } from './model';
import { metadataXml } from './model';
import { bandwidth, basics, blkiotune, cputune, lifecycle, nic } from './common';
import { el, parent } from './xml';

/**
 * Domain XML for `type='xen'` (libvirt's libxl driver): a PV guest when a kernel is given
 * (`<type>linux</type>` + kernel/initrd/cmdline), otherwise an HVM guest booting its disk;
 * the root disk is the qcow2 overlay through qemu (`xvda`), host directories through 9p, the NIC
 * on a bridge with the bandwidth cap.
 */
export function xenDomainXml(model: DomainModel): string {
  const pv = model.kernel !== undefined;
  return parent('domain', { type: 'xen' }, [
    ...basics(model),
    metadataXml(model),
    cputune(model),
    blkiotune(model),
    parent('os', {}, [
      pv ? el('type', { arch: 'x86_64', machine: 'xenpv' }, 'linux') : el('type', { arch: 'x86_64', machine: 'xenfv' }, 'hvm'),
      model.kernel && el('kernel', {}, model.kernel.path),
      model.kernel?.initrd && el('initrd', {}, model.kernel.initrd),
      model.kernel?.cmdline && el('cmdline', {}, model.kernel.cmdline),
      !pv && el('boot', { dev: 'hd' }),
    ]),
    !pv && parent('features', {}, [el('acpi'), el('apic'), el('pae')]),
    ...lifecycle(),
    parent('devices', {}, [
      parent('disk', { type: 'file', device: 'disk' }, [
        el('driver', { name: 'qemu', type: model.rootDisk.format }),
        el('source', { file: model.rootDisk.path }),
        el('target', { dev: 'xvda', bus: 'xen' }),
      ]),
      ...model.volumes.map((v) =>
        parent('filesystem', { type: 'mount', accessmode: 'mapped' }, [el('source', { dir: v.hostPath }), el('target', { dir: v.name }), v.readOnly && el('readonly')]),
      ),
      model.network && nic(model.network, [bandwidth(model)]),
      parent('console', { type: 'pty' }, [el('target', { type: pv ? 'xen' : 'serial', port: 0 })]),
    ]),
  ]);
}
