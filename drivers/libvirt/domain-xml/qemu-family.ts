import type { DomainModel } from './model';
import { metadataXml } from './model';
import { bandwidth, basics, blkiotune, cputune, lifecycle, nic } from './common';
import { el, parent } from './xml';

/**
 * What the QEMU-driven domain types (`kvm` and `qemu`) share: an x86 q35/pc machine, a virtio root
 * disk (the qcow2 overlay; `<readonly/>` for a read-only root), 9p host directories, a virtio NIC on a bridge or a managed libvirt network, a serial console logged
 * to a file (and listening on a unix socket when the model has one). `cpu` is the only difference between them.
 */
export function qemuFamilyXml(type: 'kvm' | 'qemu', model: DomainModel, cpu?: string): string {
  return parent('domain', { type }, [
    ...basics(model),
    metadataXml(model),
    cputune(model),
    blkiotune(model),
    parent('os', {}, [
      el('type', { arch: 'x86_64', machine: 'pc' }, 'hvm'),
      model.kernel && el('kernel', {}, model.kernel.path),
      model.kernel?.initrd && el('initrd', {}, model.kernel.initrd),
      model.kernel?.cmdline && el('cmdline', {}, model.kernel.cmdline),
      !model.kernel && el('boot', { dev: 'hd' }),
    ]),
    parent('features', {}, [el('acpi')]),
    cpu,
    ...lifecycle(),
    parent('devices', {}, [
      parent('disk', { type: 'file', device: 'disk' }, [
        el('driver', { name: 'qemu', type: model.rootDisk.format, cache: 'none' }),
        el('source', { file: model.rootDisk.path }),
        el('target', { dev: 'vda', bus: 'virtio' }),
        model.rootDisk.readOnly && el('readonly'),
      ]),
      model.stateDisk &&
        parent('disk', { type: 'file', device: 'disk' }, [
          el('driver', { name: 'qemu', type: 'qcow2', cache: 'none' }),
          el('source', { file: model.stateDisk }),
          el('target', { dev: 'vdb', bus: 'virtio' }),
        ]),
      ...model.volumes.map((v) =>
        parent('filesystem', { type: 'mount', accessmode: 'mapped' }, [
          el('source', { dir: v.hostPath }),
          el('target', { dir: v.name }),
          v.readOnly && el('readonly'),
        ]),
      ),
      model.network && nic(model.network, [el('model', { type: 'virtio' }), bandwidth(model)]),
      ...serialConsole(model),
      el('memballoon', { model: 'none' }),
    ]),
  ]);
}

/**
 * The serial port and its `<console>`: on a unix socket libvirt listens on (`mode='bind'`; one
 * client at a time attaches to it) when the model has one, else on a pty; logged to the console
 * log either way (`<log>` works on any chardev).
 */
function serialConsole(model: DomainModel): string[] {
  const source = model.consoleSocket ? el('source', { mode: 'bind', path: model.consoleSocket }) : undefined;
  const type = model.consoleSocket ? 'unix' : 'pty';
  return [
    parent('serial', { type }, [source, model.consoleLog && el('log', { file: model.consoleLog, append: 'off' }), el('target', { port: 0 })]),
    parent('console', { type }, [source, el('target', { type: 'serial', port: 0 })]),
  ];
}
