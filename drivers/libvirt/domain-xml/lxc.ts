import type { DomainModel } from './model';
import { metadataXml } from './model';
import { bandwidth, basics, blkiotune, cputune, lifecycle, nic } from './common';
import { el, parent } from './xml';

/**
 * Domain XML for `type='lxc'` (libvirt's LXC driver): the root filesystem is the qcow2 overlay
 * mounted through qemu-nbd, the first process is `init` with the interface values as its
 * environment, host directories are bind mounts at their mount paths, the NIC (with static
 * IPv4 and IPv6 addresses when asked) on a bridge.
 */
export function lxcDomainXml(model: DomainModel): string {
  const init = model.init ?? { command: ['/sbin/init'], env: {} };
  const [command, ...args] = init.command;
  return parent('domain', { type: 'lxc' }, [
    ...basics(model),
    metadataXml(model),
    cputune(model),
    blkiotune(model),
    parent('os', {}, [
      el('type', { arch: 'x86_64' }, 'exe'),
      el('init', {}, command ?? '/sbin/init'),
      ...args.map((a) => el('initarg', {}, a)),
      ...Object.entries(init.env).map(([k, v]) => el('initenv', { name: k }, v)),
    ]),
    ...lifecycle(),
    parent('devices', {}, [
      parent('filesystem', { type: 'file', accessmode: 'passthrough' }, [
        el('driver', { type: 'nbd', format: model.rootDisk.format }),
        el('source', { file: model.rootDisk.path }),
        el('target', { dir: '/' }),
      ]),
      ...model.volumes.map((v) =>
        parent('filesystem', { type: 'mount', accessmode: 'passthrough' }, [el('source', { dir: v.hostPath }), el('target', { dir: v.mountPath }), v.readOnly && el('readonly')]),
      ),
      model.network &&
        nic(model.network, [
          model.network.ipv4 && el('ip', { address: model.network.ipv4.address, family: 'ipv4', prefix: model.network.ipv4.prefix }),
          model.network.gateway && el('route', { family: 'ipv4', address: '0.0.0.0', prefix: 0, gateway: model.network.gateway }),
          model.network.ipv6 && el('ip', { address: model.network.ipv6.address, family: 'ipv6', prefix: model.network.ipv6.prefix }),
          model.network.gateway6 && el('route', { family: 'ipv6', address: '::', prefix: 0, gateway: model.network.gateway6 }),
          bandwidth(model),
        ]),
      parent('console', { type: 'pty' }, [el('target', { type: 'lxc', port: 0 })]),
    ]),
  ]);
}
