import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors';
import type { Technology } from '../contract';
import type { BindingLoad } from './binding';
import type { DomainType } from './domain-xml';
import { namePrefixOf } from '../host/name-prefix';

/** The technologies this driver runs, and the domain type each builds. */
export const LIBVIRT_TECHNOLOGIES = { 'libvirt-kvm': 'kvm', 'libvirt-qemu': 'qemu', 'libvirt-xen': 'xen', 'libvirt-lxc': 'lxc' } as const satisfies Record<string, DomainType>;
export type LibvirtTechnology = keyof typeof LIBVIRT_TECHNOLOGIES;

/** How the libvirt driver is set up on a host. */
export interface LibvirtDriverOptions {
  /** Connection URI: `qemu:///system`, `xen:///system`, `lxc:///`, `test:///default`. Default `qemu:///system`. */
  uri?: string;
  /**
   * The technology; default from the URI (`qemu://` → libvirt-kvm when /dev/kvm exists, else
   * libvirt-qemu; `xen://` → libvirt-xen; `lxc://` → libvirt-lxc). Required choice for `test://`
   * URIs (default libvirt-qemu), and may force libvirt-qemu (software emulation) on a KVM host.
   */
  technology?: LibvirtTechnology;
  /** Registry name; default the technology. */
  name?: string;
  /** Prefix of domain names, so several agents can share one libvirt (e.g. `rsp-b-`). Default `rsp-`. */
  namePrefix?: string;
  /**
   * Who makes the domains (the installation or agent, see `PluginContext.owner`): recorded in an
   * element of its own in each domain's `<metadata>`; the driver lists, finds and removes only
   * domains of this owner or of none (made before owners existed). Default: none.
   */
  owner?: string;
  /** Where environment directories (overlay disks, console logs) live. Default /var/lib/rsp/libvirt. */
  dataDir?: string;
  /** Bridge for `network.mode = bridge` when the spec names none. Default `virbr0`. */
  defaultBridge?: string;
  /** Direct kernel boot for VMs (kvm, qemu, xen PV); without it VMs boot from their root disk. */
  kernel?: { path: string; initrd?: string; cmdline?: string };
  /** Memory of an environment that asks for none. Default 128 MiB. */
  defaultMemoryBytes?: number;
  /** Default deadline of calls, ms. Default 60 000. */
  timeoutMs?: number;
  /** The `virsh` program (stats counters, snapshots, migration, version). Default `virsh` on PATH. */
  virsh?: string;
  /** The `qemu-img` program. Default `qemu-img` on PATH. */
  qemuImg?: string;
  /** The `mkfs.ext4` program (e2fsprogs), which builds base images from root filesystem tars. Default `mkfs.ext4` on PATH. */
  mkfsExt4?: string;
  /** Loads the binding; default the native `@unraid/libvirt` (tests inject a missing one). */
  loadBinding?: () => Promise<BindingLoad>;
  /**
   * Also turn `cpuWeight` into a block I/O weight (`<blkiotune><weight>`, weight × 5 within
   * 100–1000). Off by default: on cgroup v1 hosts whose disks use no CFQ/BFQ scheduler there is no
   * blkio.weight and libvirt refuses to start such a domain.
   */
  blkioWeight?: boolean;
  /** Fault injection for tests: make `create` fail after this step. */
  failAfter?: 'disk' | 'define';
}

/** The options with every default filled in. */
export interface ResolvedLibvirtOptions extends Required<Omit<LibvirtDriverOptions, 'kernel' | 'loadBinding' | 'failAfter' | 'owner'>> {
  domainType: DomainType;
  owner?: string;
  kernel?: LibvirtDriverOptions['kernel'];
  loadBinding?: () => Promise<BindingLoad>;
  failAfter?: LibvirtDriverOptions['failAfter'];
  /** `test://` URIs: libvirt's in-process test driver, invisible to other processes (virsh). */
  isTestUri: boolean;
}

/** The technology a URI runs when none is asked for. */
export function technologyForUri(uri: string, hasKvm = existsSync('/dev/kvm')): LibvirtTechnology {
  const scheme = /^([a-z0-9]+)(\+[a-z0-9]+)?:/.exec(uri)?.[1];
  switch (scheme) {
    case 'qemu':
      return hasKvm ? 'libvirt-kvm' : 'libvirt-qemu';
    case 'xen':
    case 'libxl':
      return 'libvirt-xen';
    case 'lxc':
      return 'libvirt-lxc';
    case 'test':
      return 'libvirt-qemu';
    default:
      throw new BadInputError(`"${uri}" is not a libvirt URI the driver knows (qemu://, xen://, lxc://, test://)`, { uri });
  }
}

export function resolveLibvirtOptions(options: LibvirtDriverOptions = {}): ResolvedLibvirtOptions {
  const uri = options.uri ?? 'qemu:///system';
  if (/[\s\0]/.test(uri)) throw new BadInputError('a libvirt URI may not contain whitespace', { uri });
  const technology = options.technology ?? technologyForUri(uri);
  if (!(technology in LIBVIRT_TECHNOLOGIES)) throw new BadInputError(`technology ${String(technology)} is not a libvirt technology`, { technology });
  return {
    uri,
    technology,
    domainType: LIBVIRT_TECHNOLOGIES[technology],
    name: options.name ?? technology,
    namePrefix: namePrefixOf(options.namePrefix),
    ...(options.owner ? { owner: options.owner } : {}),
    dataDir: options.dataDir ?? join('/var/lib/rsp', 'libvirt'),
    defaultBridge: options.defaultBridge ?? 'virbr0',
    kernel: options.kernel,
    defaultMemoryBytes: options.defaultMemoryBytes ?? 128 * 1024 * 1024,
    timeoutMs: options.timeoutMs ?? 60_000,
    virsh: options.virsh ?? 'virsh',
    qemuImg: options.qemuImg ?? 'qemu-img',
    mkfsExt4: options.mkfsExt4 ?? 'mkfs.ext4',
    loadBinding: options.loadBinding,
    failAfter: options.failAfter,
    blkioWeight: options.blkioWeight ?? false,
    isTestUri: uri.startsWith('test:'),
  };
}

/** Whether a technology string is one of this driver's. */
export function isLibvirtTechnology(t: Technology): t is LibvirtTechnology {
  return t in LIBVIRT_TECHNOLOGIES;
}
