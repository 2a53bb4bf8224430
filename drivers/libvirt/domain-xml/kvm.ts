import type { DomainModel } from './model';
import { qemuFamilyXml } from './qemu-family';

/** Domain XML for `type='kvm'`: hardware virtualization (needs /dev/kvm), the host's CPU passed through. */
export function kvmDomainXml(model: DomainModel): string {
  return qemuFamilyXml('kvm', model, "<cpu mode='host-passthrough'/>");
}
