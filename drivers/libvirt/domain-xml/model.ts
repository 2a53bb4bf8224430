import type { EnvironmentSpec, ImageRef, PortSpec } from '../../contract';
import type { ManagedNetwork } from '../../host/managed-network';
import { esc } from './xml';

/** The domain types RSP builds XML for, one builder each. */
export type DomainType = 'kvm' | 'qemu' | 'xen' | 'lxc';

/** The XML namespace of RSP's metadata element inside `<metadata>`. */
export const METADATA_NAMESPACE = 'urn:rsp:libvirt:1';

/**
 * The XML namespace of the owner element inside `<metadata>`: the installation or agent that made
 * the domain (the driver's `owner` option). Its own element, so that `virsh metadata --uri` reads
 * or rewrites it alone (e.g. after moving a domain to another installation by hand).
 */
export const OWNER_NAMESPACE = 'urn:rsp:libvirt:owner:1';

/** What RSP keeps in the domain's `<metadata>` (libvirt stores it with the definition). */
export interface DomainMetadata {
  environment: string;
  image: ImageRef;
  hostname: string;
  labels: Record<string, string>;
  createdAt: string;
  /** Limits that libvirt's XML does not keep in a form RSP can read back. */
  diskBytes?: number;
  networkBitsPerSecond?: number;
  /** The environment's directory on the host (disks, console log). */
  directory: string;
  /** Volume names by host path (the XML keeps only 9p mount tags or mount paths). */
  volumes?: Record<string, string>;
  /** The managed network the NIC is on, and its DHCP/DNS entry there (to remove it with the domain). */
  network?: ManagedNetwork & { mac: string; ip: string; hostname: string };
  /** Host ports published to it (forwarded to its address while it runs). */
  ports?: PortSpec[];
}

/**
 * A technology-neutral description of one domain, made from an EnvironmentSpec by the driver;
 * each builder turns it into its domain type's XML.
 */
export interface DomainModel {
  name: string;
  uuid: string;
  memoryKiB: number;
  vcpus: number;
  /** cgroup cpu shares (`<cputune><shares>`). */
  cpuShares?: number;
  /** `<cputune><global_period>/<global_quota>` in microseconds. */
  cpuQuota?: { periodUs: number; quotaUs: number };
  /** `<blkiotune><weight>` 100–1000. */
  blkioWeight?: number;
  /**
   * The copy-on-write root disk (qcow2 overlay over the read-only base); `readOnly`: attached
   * `<readonly/>`, so the guest sees a read-only block device (a read-only root filesystem).
   */
  rootDisk: { path: string; format: 'qcow2'; readOnly?: boolean };
  /**
   * A small writable qcow2 disk (`vdb`) beside a read-only root: where QEMU keeps a running guest's
   * memory (vmstate) for an internal snapshot, which it cannot put in a read-only disk.
   */
  stateDisk?: string;
  /** Host directories passed into the domain. */
  volumes: Array<{ name: string; hostPath: string; mountPath: string; readOnly: boolean }>;
  /** The NIC: on a managed libvirt network (`network`, with its fixed `mac`) or on a host bridge. */
  network?: {
    bridge: string;
    network?: string;
    mac?: string;
    ipv4?: { address: string; prefix: number };
    gateway?: string;
    /** A static IPv6 address (libvirt-LXC domains: `<ip family='ipv6'>`; VMs take it from their kernel command line). */
    ipv6?: { address: string; prefix: number };
    /** The IPv6 default route's gateway. */
    gateway6?: string;
    /** libvirt's own `<bandwidth>` (KiB/s both ways); absent where RSP shapes the host-side device itself. */
    averageKiBps?: number;
    /** The host-side device's name (`<target dev>`), where RSP shapes it. */
    targetDev?: string;
  };
  /** Direct kernel boot (VMs); without it the VM boots from its root disk. */
  kernel?: { path: string; initrd?: string; cmdline?: string };
  /** The first process (LXC): command and environment. */
  init?: { command: string[]; env: Record<string, string> };
  /** Where the serial console is logged (VMs). */
  consoleLog?: string;
  /** The unix socket the serial console listens on (VMs; a pty console without it). */
  consoleSocket?: string;
  metadata: DomainMetadata;
  /** Who made it (the driver's `owner`); absent: no owner element (everyone's, as before owners). */
  owner?: string;
}

/** The `<metadata>` block: RSP's record as escaped JSON text, and the owner in its own namespace when there is one. */
export function metadataXml(model: Pick<DomainModel, 'metadata' | 'owner'>): string {
  const owner = model.owner === undefined ? '' : `\n  <rspowner:owner xmlns:rspowner="${OWNER_NAMESPACE}">${esc(model.owner)}</rspowner:owner>`;
  return `<metadata>\n  <rsp:environment xmlns:rsp="${METADATA_NAMESPACE}">${esc(JSON.stringify(model.metadata))}</rsp:environment>${owner}\n</metadata>`;
}

/** Pulls the fields a spec shares with every domain type into metadata. */
export function metadataFor(spec: EnvironmentSpec, directory: string): DomainMetadata {
  return {
    environment: spec.id,
    image: spec.image,
    hostname: spec.iface.hostname,
    labels: { ...(spec.labels ?? {}), 'rsp.environment': spec.id },
    createdAt: new Date().toISOString(),
    diskBytes: spec.limits?.diskBytes,
    networkBitsPerSecond: spec.limits?.networkBitsPerSecond,
    directory,
  };
}
