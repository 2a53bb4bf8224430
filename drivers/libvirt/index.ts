/** The libvirt driver (Xen, KVM/QEMU and LXC through libvirt): one file per role, see README.md. */
export { LibvirtDriver, createLibvirtDriver, domainName, DOMAIN_PREFIX } from './driver';
export type { LibvirtDriverOptions, LibvirtTechnology } from './options';
export { LIBVIRT_TECHNOLOGIES, technologyForUri, resolveLibvirtOptions } from './options';
export { loadBinding, NATIVE_PACKAGE } from './binding';
export type { LibvirtBinding, LibvirtConnection, BindingLoad } from './binding';
export { domainXml, readDomain, esc } from './domain-xml';
export type { DomainModel, DomainType, DomainMetadata } from './domain-xml';
export { EXPORT_FORMAT } from './export';
