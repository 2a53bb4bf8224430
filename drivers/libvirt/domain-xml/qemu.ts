import type { DomainModel } from './model';
import { qemuFamilyXml } from './qemu-family';

/** Domain XML for `type='qemu'`: full software emulation (TCG), for hosts without /dev/kvm. */
export function qemuDomainXml(model: DomainModel): string {
  return qemuFamilyXml('qemu', model);
}
