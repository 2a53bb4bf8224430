import type { DomainModel } from './model';
import { el, parent } from './xml';

/** XML parts every domain type shares: name, uuid, memory, vCPUs, cputune, blkiotune. */
export function basics(model: DomainModel): string[] {
  return [
    el('name', {}, model.name),
    el('uuid', {}, model.uuid),
    el('title', {}, `RSP environment ${model.metadata.environment}`),
    el('memory', { unit: 'KiB' }, model.memoryKiB),
    el('currentMemory', { unit: 'KiB' }, model.memoryKiB),
    el('vcpu', { placement: 'static' }, model.vcpus),
  ];
}

/** `<cputune>` for weight and quota, or nothing. */
export function cputune(model: DomainModel): string | undefined {
  if (model.cpuShares === undefined && !model.cpuQuota) return undefined;
  return parent('cputune', {}, [
    model.cpuShares !== undefined && el('shares', {}, model.cpuShares),
    model.cpuQuota && el('global_period', {}, model.cpuQuota.periodUs),
    model.cpuQuota && el('global_quota', {}, model.cpuQuota.quotaUs),
  ]);
}

/** `<blkiotune>` when a block I/O weight is set. */
export function blkiotune(model: DomainModel): string | undefined {
  return model.blkioWeight === undefined ? undefined : parent('blkiotune', {}, [el('weight', {}, model.blkioWeight)]);
}

/** `<bandwidth>` on an interface: the same average both ways (KiB/s, libvirt's unit). */
export function bandwidth(model: DomainModel): string | undefined {
  const kib = model.network?.averageKiBps;
  return kib === undefined ? undefined : parent('bandwidth', {}, [el('inbound', { average: kib }), el('outbound', { average: kib })]);
}

/** The lifecycle actions RSP wants: a guest that powers off stays defined and off. */
export function lifecycle(): string[] {
  return [el('on_poweroff', {}, 'destroy'), el('on_reboot', {}, 'restart'), el('on_crash', {}, 'destroy')];
}

/**
 * An `<interface>`: of type `network` on a managed libvirt network (with its fixed MAC), else of
 * type `bridge`, with its host-side device's name when one is set; `extra` are its other children.
 */
export function nic(network: NonNullable<DomainModel['network']>, extra: Array<string | false | undefined>): string {
  const target = network.targetDev && el('target', { dev: network.targetDev });
  if (network.network) return parent('interface', { type: 'network' }, [el('mac', { address: network.mac }), el('source', { network: network.network }), target, ...extra]);
  return parent('interface', { type: 'bridge' }, [el('source', { bridge: network.bridge }), target, ...extra]);
}
