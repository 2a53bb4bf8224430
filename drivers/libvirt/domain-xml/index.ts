import { kvmDomainXml } from './kvm';
import { lxcDomainXml } from './lxc';
import type { DomainModel, DomainType } from './model';
import { qemuDomainXml } from './qemu';
import { xenDomainXml } from './xen';

export type { DomainModel, DomainMetadata, DomainType } from './model';
export { METADATA_NAMESPACE, metadataFor, OWNER_NAMESPACE } from './model';
export { readDomain } from './read';
export type { DomainFacts } from './read';
export { esc, unesc } from './xml';

/** One builder per domain type. */
const BUILDERS: Record<DomainType, (model: DomainModel) => string> = {
  kvm: kvmDomainXml,
  qemu: qemuDomainXml,
  xen: xenDomainXml,
  lxc: lxcDomainXml,
};

/** The domain XML of `model` for `type`. */
export function domainXml(type: DomainType, model: DomainModel): string {
  return `${BUILDERS[type](model)}\n`;
}
