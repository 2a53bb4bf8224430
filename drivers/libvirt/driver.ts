import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, mkdir, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { arch, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { withDeadline } from '../call';
import { readFileLog } from '../host/log-read';
import type {
  CallOptions,
  DriverCapabilities,
  DriverCore,
  DriverOptional,
  EnvironmentInfo,
  EnvironmentSpec,
  EnvironmentState,
  EnvironmentStats,
  ImageImportSpec,
  ImageRef,
  ImportedImage,
  InterfaceFeature,
  InteractiveProcess,
  LogRead,
  LogReadOptions,
  OptionalCapability,
  ProbeResult,
  SnapshotInfo,
  StopOptions,
} from '../contract';
import { assertEnvironmentId, BadInputError, ConflictError, EnvironmentExistsError, EnvironmentNotFoundError, SnapshotNotFoundError, UnavailableError, UnsupportedOperationError } from '../errors';
import { managedNetworkOf, type ManagedNetwork } from '../host/managed-network';
import { assertPortSpecs, PortForwards } from '../host/port-forwards';
import { shapedInterfaces, VethShaping } from '../host/shaping';
import { configValues } from '../host/rootfs';
import { consoleNotRunning, ConsoleSessions } from '../host/console-sessions';
import { assertSnapshotName, validateSpec } from '../host/validate';
import { Revert } from '../revert';
import type { LibvirtConnection } from './binding';
import { DOMAIN_STATE, isNoDomainError, isNotRunningError, loadBinding } from './binding';
import type { KernelBoot } from './boot';
import { kernelCmdline, readOnlyRootCmdline, stageKernel, untraversable } from './boot';
import { attachSerialConsole, MAX_SOCKET_PATH_BYTES } from './console';
import { baseImageInfo, createOverlay, createStateDisk } from './disks';
import type { DomainFacts, DomainMetadata, DomainModel } from './domain-xml';
import { domainXml, metadataFor, readDomain } from './domain-xml';
import { packEnvironment, unpackEnvironment } from './export';
import { importRootfsTar, openImageTar } from './images';
import type { LibvirtDriverOptions, ResolvedLibvirtOptions } from './options';
import { resolveLibvirtOptions } from './options';
import { environmentMac, libvirtBridgeName, LibvirtNetworks, type NetworkHost } from './networks';
import { idleStats, statsFromLibvirt } from './stats';
import { Virsh } from './virsh';

/** libvirt names RSP's domains `rsp-<environment id>` (another prefix per instance when asked); the id pattern keeps out anything unsafe. */
export const DOMAIN_PREFIX = 'rsp-';

/** The domain name of an environment: `<prefix><id>`. */
export function domainName(id: string, prefix: string = DOMAIN_PREFIX): string {
  assertEnvironmentId(id);
  return `${prefix}${id}`;
}

/** cgroup cpu shares per unit of RSP cpuWeight (weight 100 → 1000 shares, near libvirt's default 1024). */
const SHARES_PER_WEIGHT = 10;
const QUOTA_PERIOD_US = 100_000;

/**
 * The libvirt driver: KVM/QEMU, Xen and LXC domains over one libvirt connection URI, through the
 * native binding (`binding.ts`, loaded lazily) plus `virsh` for what the binding lacks. Each
 * environment is a persistent domain `rsp-<id>` whose `<metadata>` holds RSP's record, and a
 * directory `<dataDir>/rsp-<id>/` with its qcow2 overlay root disk and console log. With an
 * `owner`, the metadata names it too (`OWNER_NAMESPACE`), and the driver sees only domains of that
 * owner or of none (made before owners existed): two installations may share one libvirt.
 */
export class LibvirtDriver implements DriverCore, Pick<DriverOptional, 'importImage' | 'exportImage' | 'exportEnvironment' | 'importEnvironment' | 'logs' | 'readLog' | 'console' | 'snapshot' | 'listSnapshots' | 'rollbackSnapshot' | 'deleteSnapshot' | 'exportSnapshot' | 'migrate'> {
  readonly name: string;
  readonly technology: string;
  private readonly options: ResolvedLibvirtOptions;
  private readonly virsh: Virsh;
  private readonly networks: LibvirtNetworks;
  private readonly ports = new PortForwards();
  private readonly shaping = new VethShaping();
  private readonly consoles = new ConsoleSessions();
  private connection?: Promise<LibvirtConnection>;
  private bootFiles?: Promise<KernelBoot>;
  private hypervisorOwner?: Promise<{ uid: number; gid: number } | undefined>;

  constructor(options: LibvirtDriverOptions = {}) {
    this.options = resolveLibvirtOptions(options);
    this.name = this.options.name;
    this.technology = this.options.technology;
    this.virsh = new Virsh(this.options.virsh, this.options.uri);
    this.networks = new LibvirtNetworks(this.virsh);
  }

  /** The connection URI. */
  get uri(): string {
    return this.options.uri;
  }

  async probe(options?: CallOptions): Promise<ProbeResult> {
    const loaded = await (this.options.loadBinding ?? loadBinding)();
    if (!loaded.ok) return { available: false, reason: loaded.reason };
    const kernel = this.isVm ? this.options.kernel : undefined;
    for (const file of [kernel?.path, kernel?.initrd]) {
      if (file && !(await access(file, fsConstants.R_OK).then(() => true, () => false))) return { available: false, reason: `the kernel boot file ${file} is missing or not readable` };
    }
    if (this.options.domainType === 'kvm' && !this.options.isTestUri && !existsSync('/dev/kvm')) {
      return { available: false, reason: 'libvirt-kvm needs /dev/kvm (use libvirt-qemu for software emulation)' };
    }
    try {
      await withDeadline(`connecting to ${this.options.uri}`, options, Math.min(this.options.timeoutMs, 10_000), () => this.connect());
    } catch (e) {
      return { available: false, reason: (e as Error).message };
    }
    const version = await this.virsh.version(options?.signal).catch(() => ({ library: undefined, hypervisor: undefined }));
    const fs = await statfs(this.options.dataDir).catch(() => statfs('/'));
    return {
      available: true,
      version: [version.library ?? 'libvirt', version.hypervisor && `hypervisor ${version.hypervisor}`, `via ${loaded.binding.description}`].filter(Boolean).join(', '),
      host: { cpus: cpus().length, memoryBytes: totalmem(), diskBytes: fs.blocks * fs.bsize, kernel: release(), arch: arch() },
    };
  }

  capabilities(): DriverCapabilities {
    const operations: OptionalCapability[] = ['importImage', 'exportImage', 'exportEnvironment', 'importEnvironment', 'logs', 'readLog'];
    // Snapshots and migration go through virsh, which cannot see a test:// connection's domains.
    if (!this.options.isTestUri) operations.push('snapshot', 'listSnapshots', 'rollbackSnapshot', 'deleteSnapshot', 'exportSnapshot');
    if (!this.options.isTestUri && this.options.domainType !== 'lxc') operations.push('migrate');
    // A VM's serial console is a unix socket QEMU listens on (libvirt-LXC domains and test:// have none).
    if (!this.options.isTestUri && ['qemu', 'kvm'].includes(this.options.domainType)) operations.push('console');
    // Managed networks are libvirt networks made through virsh, which cannot see a test:// connection's.
    // A read-only root is a `<readonly/>` root disk, on the QEMU-driven types (the ones run for real here).
    const features: InterfaceFeature[] = this.options.isTestUri ? [] : ['managedNetwork', 'publishedPorts'];
    if (!this.options.isTestUri && this.qemuDriven) features.push('readOnlyRoot');
    // An IPv6 address is static: in the domain XML of a libvirt-LXC domain, on the kernel command line of a VM booted with RSP's kernel (a VM booting its own disk has no way to get it).
    if (!this.options.isTestUri && (!this.isVm || this.options.kernel)) features.push('ipv6');
    return { operations, limits: ['cpuWeight', 'cpuQuota', 'memoryBytes', 'diskBytes', 'networkBitsPerSecond'], features };
  }

  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`create ${spec.id} on ${this.name}`, options, this.options.timeoutMs, (signal) =>
      this.provision(spec, signal, async (rootDisk) => {
        if (this.isVm && !this.options.kernel && this.isRootfsImage(spec.image.ref)) throw this.noKernel();
        const base = await baseImageInfo(this.options.qemuImg, spec.image.ref, signal);
        await createOverlay(this.options.qemuImg, spec.image.ref, base, rootDisk, spec.limits?.diskBytes, signal);
      }),
    );
  }

  /**
   * Starts the domain (its managed network first) and applies its bandwidth cap and published
   * ports on this host (IPv4, and IPv6 for a domain with an IPv6 address). A domain already running gets them too when this host lacks them — one
   * that arrived by `migrate` from another host (which takes its own with it) is shaped and
   * published here by this call.
   */
  async start(id: string, options?: CallOptions): Promise<void> {
    await withDeadline(`start ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, conn, facts } = await this.owned(id);
      const net = facts.metadata?.network;
      const bits = facts.metadata?.networkBitsPerSecond;
      const shaped = bits && this.shapesOnHost && facts.networkBitsPerSecond === undefined ? bits : undefined;
      if (!isActive((await conn.getInfo(name)).state)) {
        // The managed network, defined and started again if it went (its last domain destroyed meanwhile, or by hand).
        if (net) await this.networks.ensure(net, net, signal, () => this.attachedTo(conn, net.name));
        await this.engine(`start of ${name}`, () => conn.start(name));
        if (shaped) {
          await this.shaping.apply(shapedInterfaces(name), shaped, signal).catch(async (e: unknown) => {
            await conn.destroy(name).catch(ignoreNotRunning);
            throw e;
          });
        }
      } else if (shaped && !existsSync(`/sys/class/net/${shapedInterfaces(name).ifb}`)) {
        await this.shaping.apply(shapedInterfaces(name), shaped, signal);
      }
      const ports = facts.metadata?.ports;
      // On the host's IPv6 addresses too (ip6tables DNAT to the guest's IPv6 address), when it has one.
      if (net && ports?.length) await this.ports.publish(portKey(name), net.ip, libvirtBridgeName(net.name), ports, signal, net.ipv6?.address);
    });
  }

  async stop(id: string, options?: StopOptions): Promise<void> {
    await withDeadline(`stop ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, conn } = await this.owned(id);
      await this.ports.withdraw(portKey(name));
      if (!isActive((await conn.getInfo(name)).state)) return;
      const graceMs = (options?.graceSeconds ?? 10) * 1000;
      if (graceMs > 0) {
        await conn.shutdown(name).catch((e: unknown) => {
          if (!isNotRunningError(e)) throw e;
        });
        const until = Date.now() + graceMs;
        while (Date.now() < until && !signal.aborted) {
          if (!isActive((await conn.getInfo(name)).state)) return;
          await sleep(100);
        }
      }
      await conn.destroy(name).catch((e: unknown) => {
        if (!isNotRunningError(e)) throw e;
      });
      await this.shaping.remove(shapedInterfaces(name));
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<void> {
    const name = domainName(id, this.options.namePrefix);
    await withDeadline(`destroy ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const conn = await this.connect();
      const facts = await this.facts(conn, name);
      if (facts && (facts.metadata?.environment !== id || !this.isOurs(facts))) return; // a domain of that name that is not RSP's, or another installation's: leave it
      if (facts) {
        if (isActive((await conn.getInfo(name)).state)) await conn.destroy(name).catch(ignoreNotRunning);
        await conn.undefine(name).catch(async (e: unknown) => {
          if (isNoDomainError(e)) return;
          if (/snapshot/i.test((e as Error).message) && !this.options.isTestUri) return this.virsh.undefineWithSnapshots(name, signal);
          throw e;
        });
      }
      // The directory is RSP's alone (named after the domain, under our data directory): remove it
      // even when the domain was undefined behind RSP's back.
      await rm(this.directory(name), { recursive: true, force: true });
      await this.ports.withdraw(portKey(name));
      if (this.shapesOnHost) await this.shaping.remove(shapedInterfaces(name));
      const net = facts?.metadata?.network;
      if (net) await this.releaseNetwork(conn, net.name, net);
    });
  }

  async inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo> {
    const name = domainName(id, this.options.namePrefix);
    return withDeadline(`inspect ${id} on ${this.name}`, options, this.options.timeoutMs, async () => {
      const { conn, facts } = await this.owned(id);
      return this.toInfo(conn, name, facts);
    });
  }

  async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return withDeadline(`list on ${this.name}`, options, this.options.timeoutMs, async () => {
      const conn = await this.connect();
      const names = (await conn.listDomainNames()).filter((n) => n.startsWith(this.options.namePrefix)).sort();
      const found: EnvironmentInfo[] = [];
      for (const name of names) {
        // A domain undefined between the listing and the lookup is skipped; any other error is the caller's.
        const facts = await this.facts(conn, name);
        if (!facts?.metadata || `${this.options.namePrefix}${facts.metadata.environment}` !== name || !this.isOurs(facts)) continue;
        const info = await this.toInfo(conn, name, facts).catch((e: unknown) => {
          if (isNoDomainError(e)) return undefined;
          throw e;
        });
        if (info) found.push(info);
      }
      return found;
    });
  }

  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    return withDeadline(`stats ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, conn } = await this.owned(id);
      const info = await conn.getInfo(name);
      if (!isActive(info.state)) return idleStats(info);
      const counters = this.options.isTestUri ? undefined : await this.virsh.domstats(name, signal);
      return statsFromLibvirt(info, counters);
    });
  }

  /**
   * A root filesystem tar (`rootfs-tar`) as a read-only qcow2 base (ext4, built with mkfs.ext4 -d;
   * see images.ts). VMs boot it with the driver's kernel (`root=/dev/vda`), so a VM driver
   * without one refuses the import.
   */
  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    if (spec.format !== 'rootfs-tar') throw new UnsupportedOperationError(`image format ${String(spec.format)}`, `driver ${this.name}`);
    if (this.isVm && !this.options.kernel) throw this.noKernel();
    return withDeadline(`import image ${spec.name} on ${this.name}`, options, this.options.timeoutMs, (signal) =>
      importRootfsTar({ qemuImg: this.options.qemuImg, mkfsExt4: this.options.mkfsExt4 }, source, this.imageDir, signal),
    );
  }

  /** The tar an image was imported from; UNSUPPORTED for base images that are plain disk files. */
  async exportImage(image: ImageRef): Promise<Readable> {
    return openImageTar(image.ref, this.imageDir);
  }

  /** The serial console log (VMs); LXC domains and never-started VMs have none yet. */
  async logs(id: string, options?: CallOptions & { tail?: number }): Promise<string> {
    return (await this.readLog(id, { tail: options?.tail })).text;
  }

  /** The serial console log (VMs), a file libvirt appends to; empty for LXC domains and never-started VMs. */
  async readLog(id: string, options?: LogReadOptions): Promise<LogRead> {
    const { facts } = await this.owned(id);
    return readFileLog(facts.consoleLog, options, id, `driver ${this.name}`);
  }

  /**
   * The VM's serial console, through the unix socket its serial port listens on (libvirt opens it,
   * QEMU serves it; the console log keeps being written meanwhile). CONFLICT when the VM is not
   * running or another session is attached; UNSUPPORTED for a domain defined with a pty console
   * (before RSP gave consoles a socket: rebuild it to get one).
   */
  async console(id: string, options?: CallOptions): Promise<InteractiveProcess> {
    return withDeadline(`console of ${id} on ${this.name}`, options, this.options.timeoutMs, async () => {
      const { name, conn, facts } = await this.owned(id);
      if (!facts.consoleSocket) throw new UnsupportedOperationError('console', `domain ${name}`, 'its serial console is a pty, not a socket RSP can attach to (rebuild the environment to give it one)');
      if (!isActive((await conn.getInfo(name)).state)) throw consoleNotRunning(id);
      return this.consoles.attach(name, 'a serial console', () => attachSerialConsole(name, facts.consoleSocket!));
    });
  }

  /**
   * A libvirt snapshot through `virsh snapshot-create-as` (the binding has no snapshot calls): an
   * internal qcow2 snapshot of the overlay (inside the root disk file), plus memory when running.
   * A read-only root's disks are named explicitly (libvirt leaves a `<readonly/>` disk out); QEMU
   * keeps a running guest's memory in its writable vmstate disk `vdb` (a domain without one, while
   * it runs: CONFLICT). The read-only root itself never changes, so QEMU snapshots only `vdb`.
   */
  async snapshot(id: string, snapshotName: string, options?: CallOptions): Promise<SnapshotInfo> {
    assertSnapshotName(snapshotName);
    this.assertSnapshots();
    return withDeadline(`snapshot ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, conn, facts } = await this.owned(id);
      if ((await this.virsh.snapshots(name, signal)).some((s) => s.name === snapshotName)) throw new ConflictError(`Snapshot ${snapshotName} of ${id} already exists`, { id, snapshot: snapshotName });
      if (facts.rootReadOnly && !facts.stateDisk && isActive((await conn.getInfo(name)).state)) {
        throw new ConflictError(`Environment ${id} runs with a read-only root and no writable disk for its memory: libvirt snapshots it stopped; stop it first (or rebuild it to get a state disk)`, { id, snapshot: snapshotName });
      }
      await this.virsh.snapshot(name, snapshotName, signal, facts.rootReadOnly ? ['vda', ...(facts.stateDisk ? ['vdb'] : [])] : []);
      return { name: snapshotName, createdAt: new Date() };
    });
  }

  /** `virsh snapshot-list`, oldest first. */
  async listSnapshots(id: string, options?: CallOptions): Promise<SnapshotInfo[]> {
    this.assertSnapshots();
    return withDeadline(`snapshots of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => this.virsh.snapshots((await this.owned(id)).name, signal));
  }

  /** `virsh snapshot-revert`; a running domain runs again afterwards. */
  async rollbackSnapshot(id: string, snapshotName: string, options?: CallOptions): Promise<void> {
    assertSnapshotName(snapshotName);
    this.assertSnapshots();
    await withDeadline(`rollback of ${id} to ${snapshotName} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, conn } = await this.owned(id);
      if (!(await this.virsh.snapshots(name, signal)).some((s) => s.name === snapshotName)) throw new SnapshotNotFoundError(this.name, id, snapshotName);
      await this.virsh.revertSnapshot(name, snapshotName, isActive((await conn.getInfo(name)).state), signal);
    });
  }

  /** `virsh snapshot-delete`; a missing name is not an error. */
  async deleteSnapshot(id: string, snapshotName: string, options?: CallOptions): Promise<void> {
    assertSnapshotName(snapshotName);
    this.assertSnapshots();
    await withDeadline(`deletion of snapshot ${snapshotName} of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name } = await this.owned(id);
      if ((await this.virsh.snapshots(name, signal)).some((s) => s.name === snapshotName)) await this.virsh.deleteSnapshot(name, snapshotName, signal);
    });
  }

  /**
   * Live migration through libvirt (disks copied), to a destination URI that runs the same
   * technology. The domain's managed network is made on the destination first (through virsh on
   * that URI, with the domain's DHCP and DNS entries); once moved, this host withdraws its
   * published ports, its bandwidth cap and its network entries. Ports and cap are the target
   * host's to apply: its driver's `start` does so for the running domain that arrived. The domain
   * keeps its definition, `<metadata>` included, so it arrives with this driver's owner: a driver
   * of the destination with another owner (another installation, or another remote agent, whose
   * owner is its agent id) does not see it until the owner element is rewritten there
   * (`virsh metadata <domain> --uri urn:rsp:libvirt:owner:1 --key rspowner --set '<owner>…</owner>'`).
   */
  async migrate(id: string, destinationUri: string, options?: CallOptions): Promise<void> {
    if (/[\s\0]/.test(destinationUri) || !/^[a-z0-9+]+:\/\//.test(destinationUri)) throw new BadInputError(`"${destinationUri}" is not a libvirt URI`, { uri: destinationUri });
    if (this.options.isTestUri || this.options.domainType === 'lxc') throw new UnsupportedOperationError('migrate', `driver ${this.name}`);
    await withDeadline(`migrate ${id} on ${this.name}`, options, this.options.timeoutMs * 10, async (signal) => {
      const { name, conn, facts } = await this.owned(id);
      const net = facts.metadata?.network;
      if (net) await new LibvirtNetworks(new Virsh(this.options.virsh, destinationUri)).ensure(net, net, signal);
      await this.virsh.migrate(name, destinationUri, signal);
      await this.ports.withdraw(portKey(name));
      if (this.shapesOnHost) await this.shaping.remove(shapedInterfaces(name));
      if (net) await this.releaseNetwork(conn, net.name, net);
    });
  }

  /** The domain XML, the root disk (flattened) and the volumes' contents as one tar stream (see export.ts). */
  async exportEnvironment(id: string, options?: CallOptions): Promise<Readable> {
    return withDeadline(`export ${id} on ${this.name}`, options, this.options.timeoutMs, (signal) => this.exportFrom(id, signal));
  }

  /**
   * The environment as snapshot `snapshotName` holds its root disk, in the `exportEnvironment`
   * format: the internal qcow2 snapshot read out of the overlay by `qemu-img convert -l
   * snapshot.name=…` (its base merged in; the guest may run on), the domain XML as it is now, and
   * the volumes' current contents (shared host directories, which a libvirt snapshot does not hold).
   */
  async exportSnapshot(id: string, snapshotName: string, options?: CallOptions): Promise<Readable> {
    assertSnapshotName(snapshotName);
    this.assertSnapshots();
    return withDeadline(`export of snapshot ${snapshotName} of ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name } = await this.owned(id);
      if (!(await this.virsh.snapshots(name, signal)).some((s) => s.name === snapshotName)) throw new SnapshotNotFoundError(this.name, id, snapshotName);
      return this.exportFrom(id, signal, snapshotName);
    });
  }

  /** The export stream of `id`: its root disk as it is, or as `snapshot` holds it. */
  private async exportFrom(id: string, signal: AbortSignal, snapshot?: string): Promise<Readable> {
    const { name, conn, facts } = await this.owned(id);
    if (!facts.rootDisk) throw new UnavailableError(`domain ${name} has no root disk`, { id });
    const xml = await conn.getXML(name);
    const volumes = [...xml.matchAll(/<filesystem\b[\s\S]*?<source dir=["']([^"']+)["'][\s\S]*?<target dir=["']([^"']+)["']/g)]
      .filter((m) => m[2] !== '/')
      .map((m) => ({ hostPath: m[1]!, name: facts.metadata!.volumes?.[m[1]!] ?? m[2]! }));
    const staging = join(this.options.dataDir, `.rsp-export-${randomBytes(6).toString('hex')}`);
    // A read-only root is as every snapshot of it holds it (a running one's is not even inside it: QEMU kept it in the state disk).
    const fromSnapshot = snapshot && !facts.rootReadOnly ? { snapshot } : {};
    return packEnvironment(this.options.qemuImg, staging, { environment: id, domainType: facts.type, domainXml: xml, rootDisk: facts.rootDisk, ...fromSnapshot, volumes }, signal);
  }

  /** A new environment from an `exportEnvironment` stream: its root disk and volume contents, with `spec`'s identity. */
  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`import ${spec.id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      validateSpec(this, spec);
      await mkdir(this.options.dataDir, { recursive: true });
      const staging = join(this.options.dataDir, `.rsp-import-${randomBytes(6).toString('hex')}`);
      try {
        const conn = await this.connect();
        if ((await conn.listDomainNames()).includes(domainName(spec.id, this.options.namePrefix))) throw new EnvironmentExistsError(this.name, spec.id);
        const { rootDisk } = await unpackEnvironment(source, staging, spec.volumes, signal);
        return await this.provision(spec, signal, (target) => rename(rootDisk, target));
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    });
  }

  /** Closes the connection (tests, shutdown). */
  async close(): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    if (conn) await (await conn.catch(() => undefined))?.close().catch(() => undefined);
  }

  /** Checks the spec, makes the directory and root disk (`makeRootDisk`), defines the domain; undoes it all on failure. */
  /** Snapshots go through virsh, which cannot see a test:// connection's domains. */
  private assertSnapshots(): void {
    if (this.options.isTestUri) throw new UnsupportedOperationError('snapshot', `driver ${this.name}`, 'not on a test:// connection');
  }

  private async provision(spec: EnvironmentSpec, signal: AbortSignal, makeRootDisk: (path: string) => Promise<void>): Promise<EnvironmentInfo> {
    this.validate(spec);
    const name = domainName(spec.id, this.options.namePrefix);
    const conn = await this.connect();
    if ((await conn.listDomainNames()).includes(name)) throw new EnvironmentExistsError(this.name, spec.id);
    const dir = this.directory(name);
    const revert = new Revert();
    try {
      await mkdir(this.options.dataDir, { recursive: true });
      await rm(dir, { recursive: true, force: true }); // a leftover of a domain removed behind RSP's back
      await mkdir(dir);
      revert.add(() => rm(dir, { recursive: true, force: true }));
      await chmod(dir, 0o755); // the hypervisor (e.g. user libvirt-qemu) must reach the disk
      const unreachable = this.options.isTestUri || !['kvm', 'qemu'].includes(this.options.domainType) ? undefined : await untraversable(dir);
      if (unreachable) throw new UnavailableError(`the hypervisor's user cannot reach ${dir}: ${unreachable} is not traversable by others (chmod o+x it)`, { path: unreachable });
      const rootDisk = join(dir, 'root.qcow2');
      await makeRootDisk(rootDisk);
      if (this.hasStateDisk(spec)) await createStateDisk(this.options.qemuImg, join(dir, 'state.qcow2'), signal);
      await this.handVolumesToHypervisor(spec, signal);
      const kernel = this.isVm && this.options.kernel ? await this.stagedKernel() : undefined;
      if (this.options.failAfter === 'disk') throw new UnavailableError('fault injection: failing after the disk');
      const managed = managedNetworkOf(spec.iface.network);
      const host = managed && { ...managed, mac: environmentMac(name), ip: managed.address, hostname: spec.iface.hostname };
      if (host) {
        await this.networks.ensure(host, host, signal, () => this.attachedTo(conn, host.name));
        revert.add(() => this.releaseNetwork(conn, host.name, host));
      }
      const model = this.model(spec, name, dir, rootDisk, kernel, host);
      await this.engine(`defining ${name}`, () => conn.defineXML(domainXml(this.options.domainType, model)));
      revert.add(() => conn.undefine(name));
      if (this.options.failAfter === 'define') throw new UnavailableError('fault injection: failing after define');
      const info = await this.toInfo(conn, name, await this.facts(conn, name).then((f) => f!));
      revert.success();
      return info;
    } finally {
      await revert.run();
      if (signal.aborted) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private validate(spec: EnvironmentSpec): void {
    validateSpec(this, spec);
    assertPortSpecs(spec.iface.ports, managedNetworkOf(spec.iface.network));
    if (spec.command?.length && this.options.domainType !== 'lxc') {
      throw new UnsupportedOperationError('command', `driver ${this.name}`, 'a VM runs its image\'s own init; only libvirt-lxc takes a command');
    }
    for (const arg of spec.command ?? []) if (/\0/.test(arg)) throw new BadInputError('command arguments may not contain NUL');
    if (this.isVm && this.options.kernel) kernelCmdline(this.options.kernel.cmdline, spec.iface);
    if (spec.iface.network?.mode === 'bridge' && spec.iface.network.ipv4 && this.options.domainType !== 'lxc') {
      // A VM configures its own address; libvirt cannot set it from outside.
    }
  }

  /** The technology-neutral domain model of a spec. */
  private model(spec: EnvironmentSpec, name: string, dir: string, rootDisk: string, kernel: KernelBoot | undefined, managed: DomainMetadata['network']): DomainModel {
    const limits = spec.limits ?? {};
    const memoryBytes = limits.memoryBytes ?? this.options.defaultMemoryBytes;
    const net = spec.iface.network;
    const [address, prefix] = (net?.ipv4 ?? '').split('/');
    const metadata = { ...metadataFor(spec, dir), volumes: Object.fromEntries((spec.volumes ?? []).map((v) => [v.hostPath, v.name])), ...(managed ? { network: managed } : {}), ...(spec.iface.ports?.length ? { ports: spec.iface.ports } : {}) };
    const isVm = this.options.domainType !== 'lxc';
    const readOnlyRoot = isVm && spec.iface.readOnlyRoot === true;
    return {
      name,
      uuid: randomUUID(),
      memoryKiB: Math.ceil(memoryBytes / 1024),
      vcpus: Math.max(1, Math.ceil(limits.cpuQuota ?? 1)),
      cpuShares: limits.cpuWeight === undefined ? undefined : Math.round(limits.cpuWeight * SHARES_PER_WEIGHT),
      cpuQuota: limits.cpuQuota === undefined ? undefined : { periodUs: QUOTA_PERIOD_US, quotaUs: Math.max(1000, Math.round(limits.cpuQuota * QUOTA_PERIOD_US)) },
      blkioWeight: this.options.blkioWeight && limits.cpuWeight !== undefined ? Math.min(1000, Math.max(100, Math.round(limits.cpuWeight * 5))) : undefined,
      rootDisk: { path: rootDisk, format: 'qcow2', ...(readOnlyRoot ? { readOnly: true } : {}) },
      stateDisk: this.hasStateDisk(spec) ? join(dir, 'state.qcow2') : undefined,
      volumes: (spec.volumes ?? []).map((v) => ({ name: v.name, hostPath: v.hostPath, mountPath: v.mountPath, readOnly: v.readOnly === true })),
      network:
        net?.mode === 'bridge'
          ? {
              bridge: net.bridge ?? this.options.defaultBridge,
              ...(managed ? { network: managed.name, mac: managed.mac } : {}),
              ipv4: address ? { address, prefix: Number(prefix ?? 24) } : undefined,
              gateway: net.gateway,
              ...(managed?.ipv6 ? { ipv6: { address: managed.ipv6.address, prefix: 64 }, gateway6: managed.ipv6.gateway } : {}),
              ...(limits.networkBitsPerSecond === undefined
                ? {}
                : this.shapesOnHost
                  ? { targetDev: shapedInterfaces(name).veth }
                  : { averageKiBps: Math.max(1, Math.round(limits.networkBitsPerSecond / 8 / 1024)) }),
            }
          : undefined,
      kernel: isVm && kernel ? { ...kernel, cmdline: kernelCmdline(readOnlyRoot ? readOnlyRootCmdline(kernel.cmdline) : kernel.cmdline, spec.iface) } : undefined,
      init: isVm ? undefined : { command: spec.command?.length ? spec.command : ['/sbin/init'], env: configValues(spec.iface) },
      consoleLog: isVm ? join(dir, 'console.log') : undefined,
      consoleSocket: isVm && Buffer.byteLength(join(dir, 'console.sock')) <= MAX_SOCKET_PATH_BYTES ? join(dir, 'console.sock') : undefined,
      metadata,
      ...(this.options.owner ? { owner: this.options.owner } : {}),
    };
  }

  private async toInfo(conn: LibvirtConnection, name: string, facts: DomainFacts): Promise<EnvironmentInfo> {
    const meta = facts.metadata!;
    const info = await conn.getInfo(name);
    const state = stateOf(info.state);
    return {
      id: meta.environment,
      handle: name,
      state,
      image: meta.image,
      addresses: state === 'running' && meta.network ? await this.addressesOf(meta.network) : [],
      hostname: meta.hostname,
      limits: {
        memoryBytes: facts.memoryBytes,
        cpuWeight: facts.cpuShares === undefined ? undefined : facts.cpuShares / SHARES_PER_WEIGHT,
        cpuQuota: facts.cpuQuota,
        diskBytes: meta.diskBytes,
        networkBitsPerSecond: facts.networkBitsPerSecond ?? meta.networkBitsPerSecond,
      },
      labels: meta.labels,
    };
  }

  /**
   * A running domain's addresses on its managed network: what the network's DHCP leased its MAC
   * (VMs), or the static one (LXC domains); then its IPv6 address, static on both.
   */
  private async addressesOf(network: NonNullable<DomainMetadata['network']>): Promise<string[]> {
    const ipv6 = network.ipv6 ? [network.ipv6.address] : [];
    if (!this.isVm) return [network.ip, ...ipv6];
    const leased = await this.networks.leased(network.name, network.mac);
    return [...(leased ? [leased] : []), ...ipv6];
  }

  /** Removes a domain's entries from its managed network, and the network once no domain has an interface on it. */
  private releaseNetwork(conn: LibvirtConnection, network: string, host: NetworkHost & Pick<ManagedNetwork, 'ipv6'>): Promise<void> {
    return this.networks.release(network, host, () => this.attachedTo(conn, network));
  }

  /** How many domains of the connection have an interface on the libvirt network. */
  private async attachedTo(conn: LibvirtConnection, network: string): Promise<number> {
    let attached = 0;
    for (const name of await conn.listDomainNames()) {
      const xml = await conn.getXML(name).catch(() => '');
      if (xml.includes(`<source network='${network}'`) || xml.includes(`<source network="${network}"`)) attached++;
    }
    return attached;
  }

  /** The domain's facts, or undefined when no domain has that name. */
  private async facts(conn: LibvirtConnection, name: string): Promise<DomainFacts | undefined> {
    try {
      return readDomain(await conn.getXML(name));
    } catch (e) {
      if (isNoDomainError(e)) return undefined;
      throw e;
    }
  }

  /** The environment's domain, checked to be RSP's; NOT_FOUND otherwise. */
  private async owned(id: string): Promise<{ name: string; conn: LibvirtConnection; facts: DomainFacts }> {
    const name = domainName(id, this.options.namePrefix);
    const conn = await this.connect();
    const facts = await this.facts(conn, name);
    if (!facts || facts.metadata?.environment !== id || !this.isOurs(facts)) throw new EnvironmentNotFoundError(this.name, id);
    return { name, conn, facts };
  }

  /** Whether a domain is this driver's owner's, or of none (made before owners existed). */
  private isOurs(facts: DomainFacts): boolean {
    return facts.owner === undefined || facts.owner === this.options.owner;
  }

  /**
   * Whether RSP caps bandwidth itself on the domain's host-side device (a tap, or a libvirt-LXC
   * veth) rather than through libvirt's `<bandwidth>`, whose outbound side needs `tc police` and
   * its inbound side `sfq` (a kernel without them fails the start with libvirt's internal error).
   */
  private get shapesOnHost(): boolean {
    return !this.options.isTestUri && ['qemu', 'kvm', 'lxc'].includes(this.options.domainType);
  }

  /** Whether the domain of `spec` gets a vmstate disk: a read-only root on qemu/kvm (snapshots of it running keep the memory there). */
  private hasStateDisk(spec: EnvironmentSpec): boolean {
    return this.qemuDriven && spec.iface.readOnlyRoot === true;
  }

  /** kvm and qemu domains: QEMU runs them, as the hypervisor's own user. */
  private get qemuDriven(): boolean {
    return ['qemu', 'kvm'].includes(this.options.domainType);
  }

  /**
   * Gives the writable volumes' host directories to the user QEMU runs as (its DAC label in
   * `virsh capabilities`, e.g. libvirt-qemu): 9p writes into them as that user, and the directory
   * the agent made belongs to root. Only on qemu:///system-like connections (QEMU as another user).
   */
  private async handVolumesToHypervisor(spec: EnvironmentSpec, signal: AbortSignal): Promise<void> {
    const writable = (spec.volumes ?? []).filter((v) => !v.readOnly);
    if (this.options.isTestUri || !this.qemuDriven || !writable.length) return;
    this.hypervisorOwner ??= this.virsh.dacOwner(this.options.domainType, signal).catch(() => undefined);
    const owner = await this.hypervisorOwner;
    if (!owner) return;
    for (const v of writable) {
      const info = await stat(v.hostPath).catch(() => undefined);
      if (info?.isDirectory() && (info.uid !== owner.uid || info.gid !== owner.gid)) await chown(v.hostPath, owner.uid, owner.gid);
    }
  }

  private get isVm(): boolean {
    return this.options.domainType !== 'lxc';
  }

  private get imageDir(): string {
    return join(this.options.dataDir, 'images');
  }

  /** Whether a base image is one `importImage` built from a root filesystem (it has no boot loader). */
  private isRootfsImage(ref: string): boolean {
    return /\/images\/[0-9a-f]{64}\.qcow2$/.test(ref);
  }

  private noKernel(): UnavailableError {
    return new UnavailableError(`driver ${this.name} has no kernel for direct boot, so its VMs cannot boot a root filesystem image (give it the kernel option; the gateway reads RSP_LIBVIRT_KERNEL)`, { driver: this.name });
  }

  /** The driver's kernel and initrd, copied once into the data directory where the hypervisor can read them. */
  private stagedKernel(): Promise<KernelBoot> {
    this.bootFiles ??= stageKernel(this.options.kernel!, this.options.dataDir);
    this.bootFiles.catch(() => {
      this.bootFiles = undefined;
    });
    return this.bootFiles;
  }

  private directory(name: string): string {
    return join(this.options.dataDir, name);
  }

  /** The one connection of this driver, opened on first use; a failed open is retried next time. */
  private connect(): Promise<LibvirtConnection> {
    this.connection ??= (async () => {
      const loaded = await (this.options.loadBinding ?? loadBinding)();
      if (!loaded.ok) throw new UnavailableError(`the libvirt binding is not usable: ${loaded.reason}`, { driver: this.name });
      try {
        return await loaded.binding.open(this.options.uri);
      } catch (e) {
        throw new UnavailableError(`libvirt at ${this.options.uri} does not answer: ${(e as Error).message}`, { uri: this.options.uri }, { cause: e });
      }
    })();
    this.connection.catch(() => {
      this.connection = undefined;
    });
    return this.connection;
  }

  /** Runs a libvirt call, turning its error into UNAVAILABLE with libvirt's message. */
  private async engine<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw new UnavailableError(`${what} on ${this.options.uri} failed: ${(e as Error).message}`, { uri: this.options.uri }, { cause: e });
    }
  }
}

/** A libvirt driver for `options.uri` (default qemu:///system). */
export function createLibvirtDriver(options: LibvirtDriverOptions = {}): LibvirtDriver {
  return new LibvirtDriver(options);
}

/** The key marking a domain's port-forwarding rules. */
function portKey(domain: string): string {
  return `libvirt:${domain}`;
}

function isActive(state: number): boolean {
  return state === DOMAIN_STATE.RUNNING || state === DOMAIN_STATE.BLOCKED || state === DOMAIN_STATE.PAUSED || state === DOMAIN_STATE.SHUTDOWN || state === DOMAIN_STATE.PMSUSPENDED;
}

function stateOf(state: number): EnvironmentState {
  switch (state) {
    case DOMAIN_STATE.RUNNING:
    case DOMAIN_STATE.BLOCKED:
    case DOMAIN_STATE.SHUTDOWN:
      return 'running';
    case DOMAIN_STATE.PAUSED:
    case DOMAIN_STATE.PMSUSPENDED:
      return 'paused';
    case DOMAIN_STATE.SHUTOFF:
    case DOMAIN_STATE.CRASHED:
      return 'stopped';
    default:
      return 'unknown';
  }
}

function ignoreNotRunning(e: unknown): void {
  if (!isNotRunningError(e)) throw e;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
