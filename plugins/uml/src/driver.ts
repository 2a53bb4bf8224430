import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  assertEnvironmentId,
  assertFeaturesSupported,
  assertLimitsSupported,
  EnvironmentExistsError,
  EnvironmentNotFoundError,
  managedNetworkOf,
  Revert,
  UnavailableError,
  UnsupportedOperationError,
  withDeadline,
  type CallOptions,
  type DriverCapabilities,
  type DriverCore,
  type DriverOptional,
  type EnvironmentInfo,
  type EnvironmentSpec,
  type EnvironmentState,
  type EnvironmentStats,
  type ExecResult,
  type ImageImportSpec,
  type ImageRef,
  type ImportedImage,
  type ProbeResult,
  type ResourceLimits,
  type StopOptions,
} from '@rsp/sdk';
import { exportArchive, importArchive } from './archive';
import { GuestCgroups } from './cgroups';
import { guestExec, writeGuestConfig } from './guest';
import { baseDisk, imageTar, importImage, readImage } from './images';
import { hasIpv6Module, ipv6ModuleFiles, UML_MODULES_DIR } from './ipv6-modules';
import { StateLayout } from './paths';
import { guestCounters, guestCpuSeconds, isGuestProcess, mconsole, waitForExit } from './process';
import { onPath, run } from './run';
import { TapNetworks } from './tap-network';
import { buildXstateShim, needsXstateShim } from './xstate-shim';

/** Settings of the UML driver (the plugin's options plus the agent's data directory). */
export interface UmlDriverOptions {
  /** Where images, environments and UML's umid directories live. */
  stateDir: string;
  /** Registry name; default `uml`. */
  name?: string;
  /** The UML kernel binary; default `linux.uml` (Debian's user-mode-linux). */
  kernel?: string;
  /** Guest memory when the spec sets no limit; default 128 MiB. */
  defaultMemoryBytes?: number;
  /** Use the xstate ptrace shim: `auto` (on CPUs with AVX-512/AMX), `always` or `never`. */
  xstateShim?: 'auto' | 'always' | 'never';
  /** How long a guest may take to boot to its agent; default 120 s. */
  bootTimeoutMs?: number;
  /** The cgroup mount guests' cgroups are made under (CPU weight and quota, CPU time); default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** The UML kernel's modules, a folder per release (the ipv6 module comes from there); default /usr/lib/uml/modules. */
  modulesDir?: string;
  /** Fault injection for the conformance suite: fail `create` after this step. */
  failAfter?: 'cow';
}

/** What the driver keeps about one environment (`envs/<id>/env.json`). */
interface EnvRecord {
  spec: EnvironmentSpec;
  /** `cow`: a copy-on-write file over the image's base disk; `private`: a disk of its own (imported). */
  disk: 'cow' | 'private';
  createdAt: string;
  startedAt?: string;
  started: boolean;
}

const MIB = 1024 * 1024;

/**
 * The User-Mode Linux driver: each environment is a `linux.uml` process (detached, its pid and
 * umid recorded in the driver's state directory) booting the image's ext2 base disk through a
 * copy-on-write ubd file of its own, with `mem=` from the memory limit, CPU weight and quota
 * through a cgroup around its processes (where the cgroup tree is writable), the guest console in
 * `console.log`, volumes and the host↔image interface through hostfs, and clean stop, status and
 * guest counters through the management console (`uml_mconsole`). Networking: loopback, and on
 * a managed network a TAP device on the network's bridge (`TapNetworks`) where the host allows it.
 */
export class UmlDriver implements DriverCore, Pick<DriverOptional, 'importImage' | 'exportImage' | 'exportEnvironment' | 'importEnvironment' | 'exec' | 'logs' | 'resize'> {
  readonly name: string;
  readonly technology = 'uml';
  private readonly layout: StateLayout;
  private readonly kernel: string;
  private shim: Promise<string | undefined> | undefined;
  private readonly cgroups: GuestCgroups;
  private readonly networks: TapNetworks;
  private readonly tapUsable = TapNetworks.usable();
  private readonly modulesDir: string;

  constructor(private readonly options: UmlDriverOptions) {
    this.name = options.name ?? 'uml';
    this.layout = new StateLayout(options.stateDir);
    this.kernel = options.kernel ?? 'linux.uml';
    this.cgroups = new GuestCgroups(options.cgroupRoot ?? '/sys/fs/cgroup', options.stateDir);
    this.networks = new TapNetworks(this.layout.envs);
    this.modulesDir = options.modulesDir ?? UML_MODULES_DIR;
  }

  capabilities(): DriverCapabilities {
    return {
      operations: ['importImage', 'exportImage', 'exportEnvironment', 'importEnvironment', 'exec', 'logs', 'resize'],
      limits: this.cgroups.usable ? ['memoryBytes', 'cpuWeight', 'cpuQuota'] : ['memoryBytes'],
      // IPv6 on a managed network: the guest loads the UML kernel's ipv6 module from the host (Debian's kernel has IPv6 as a module).
      features: this.tapUsable ? ['managedNetwork', ...(hasIpv6Module(this.modulesDir) ? (['ipv6'] as const) : [])] : [],
    };
  }

  async probe(options?: CallOptions): Promise<ProbeResult> {
    try {
      return await withDeadline('probe uml', options, 30_000, async (signal) => {
        const version = await run(this.kernel, ['--version'], { signal }).then((r) => r.stdout.trim().split('\n').pop()!.trim()).catch(() => undefined);
        if (!version) return { available: false, reason: `${this.kernel} is not installed or does not run (apt-get install user-mode-linux)` };
        for (const [tool, pkg] of [['uml_mconsole', 'uml-utilities'], ['mke2fs', 'e2fsprogs']] as const) {
          if (!(await onPath(tool))) return { available: false, reason: `${tool} is not installed (apt-get install ${pkg})` };
        }
        const shim = await this.xstateShim().then(() => undefined, (e: Error) => e.message);
        if (shim) return { available: false, reason: `this CPU has AVX-512/AMX state that ${this.kernel} 6.1 cannot save; the driver's ptrace shim is needed and could not be built (apt-get install gcc): ${shim}` };
        const disk = await run('df', ['-Pk', this.options.stateDir], { signal }).then((r) => Number(r.stdout.trim().split('\n').pop()!.split(/\s+/)[1]) * 1024).catch(() => 0);
        return { available: true, version, host: { cpus: cpus().length, memoryBytes: totalmem(), diskBytes: disk, kernel: release(), arch: process.arch } };
      });
    } catch (e) {
      return { available: false, reason: (e as Error).message };
    }
  }

  /**
   * The ipv6 module of the UML kernel's release (from `--version`) and what it needs, for a guest
   * on a managed network with an IPv6 side; UNSUPPORTED_OPERATION, with the reason, without them.
   */
  private async ipv6Modules(): Promise<string[]> {
    const release = await run(this.kernel, ['--version']).then((r) => r.stdout.trim().split('\n').pop()!.trim(), () => undefined);
    const files = release ? await ipv6ModuleFiles(release, this.modulesDir) : undefined;
    if (!files) throw new UnsupportedOperationError('IPv6 addresses', `driver ${this.name}`, `${this.kernel} has IPv6 as a module and ${join(this.modulesDir, release ?? '<release>', 'kernel/net/ipv6/ipv6.ko')} is missing (apt-get install user-mode-linux): clear the host's ipv6Range`);
    return files;
  }

  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`create ${spec.id}`, options, 60_000, async () => {
      await readImage(this.layout, spec.image.ref);
      return this.makeEnvironment(spec, 'cow', async (dir) => {
        await run('uml_mkcow', ['-f', join(dir, 'cow.img'), baseDisk(this.layout, spec.image.ref)]);
        if (this.options.failAfter === 'cow') throw new UnavailableError(`injected failure after the copy-on-write disk of ${spec.id}`);
      });
    });
  }

  /**
   * Checks the spec, makes the environment's directory (CONFLICT when it exists) and host
   * directory, runs `makeDisk`, and records it; on any failure everything made is removed.
   */
  private async makeEnvironment(spec: EnvironmentSpec, disk: EnvRecord['disk'], makeDisk: (dir: string) => Promise<void>): Promise<EnvironmentInfo> {
    assertEnvironmentId(spec.id);
    assertLimitsSupported(this, spec.limits);
    assertFeaturesSupported(this, spec.iface);
    const managed = managedNetworkOf(spec.iface.network);
    if (spec.iface.network?.mode === 'bridge' && !(managed && this.tapUsable)) {
      throw new UnsupportedOperationError('bridged networking', `driver ${this.name}`, managed ? 'a TAP device on the bridge needs /dev/net/tun and root (CAP_NET_ADMIN)' : 'UML guests join managed networks only (network.network, an ipv4 address with prefix and a gateway)');
    }
    const ipv6Modules = managed?.ipv6 ? await this.ipv6Modules() : [];
    const dir = this.layout.env(spec.id);
    await mkdir(this.layout.envs, { recursive: true });
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EEXIST' ? new EnvironmentExistsError(this.name, spec.id) : e;
    });
    const revert = new Revert();
    try {
      if (managed) {
        await this.networks.prepare(managed);
        // Undone last (after the directory is gone): the bridge goes unless another environment names it.
        revert.add(() => this.networks.release(managed));
      }
      revert.add(() => rm(dir, { recursive: true, force: true }));
      await writeGuestConfig(this.layout.host(spec.id), spec, ipv6Modules);
      await makeDisk(dir);
      const record: EnvRecord = { spec: { ...spec, labels: { ...spec.labels, 'rsp.environment': spec.id } }, disk, createdAt: new Date().toISOString(), started: false };
      await writeFile(join(dir, 'env.json'), JSON.stringify(record));
      revert.success();
      return this.info(record);
    } finally {
      await revert.run();
    }
  }

  async start(id: string, options?: CallOptions): Promise<void> {
    const record = await this.record(id);
    if (await this.running(id)) return;
    await withDeadline(`start ${id}`, options, this.options.bootTimeoutMs ?? 120_000, async (signal) => {
      const dir = this.layout.env(id);
      await rm(join(this.layout.host(id), 'ready'), { force: true });
      await rm(join(this.layout.run, id), { recursive: true, force: true });
      await mkdir(this.layout.run, { recursive: true });
      const disk = record.disk === 'cow' ? `${join(dir, 'cow.img')},${baseDisk(this.layout, record.spec.image.ref)}` : join(dir, 'root.img');
      const memory = Math.ceil((record.spec.limits?.memoryBytes ?? this.options.defaultMemoryBytes ?? 128 * MIB) / MIB);
      const args = [`mem=${memory}M`, `ubda=${disk}`, 'root=/dev/ubda', 'rw', `init=/.rsp/init`, `umid=${id}`, `uml_dir=${this.layout.run}`, 'con=null', 'ssl=null', 'con0=null,fd:1', `rsp_host=${this.layout.host(id)}`];
      const managed = managedNetworkOf(record.spec.iface.network);
      if (managed) args.push(await this.networks.attach(id, managed, signal));
      const shim = await this.xstateShim();
      // With cgroups, a shell joins the guest's cgroup and then becomes linux.uml (exec, same pid),
      // so every UML process is in it from the first fork on.
      const procs = this.cgroups.usable ? await this.cgroups.prepare(id, record.spec.limits ?? {}) : [];
      const [file, argv] = procs.length ? ['/bin/sh', ['-c', 'for p in $RSP_CGROUP_PROCS; do echo $$ > "$p" || exit 1; done; exec "$@"', 'sh', this.kernel, ...args]] : [this.kernel, args];
      const env = { ...process.env, ...(shim ? { LD_PRELOAD: shim } : {}), ...(procs.length ? { RSP_CGROUP_PROCS: procs.join(' ') } : {}) };
      const log = await open(join(dir, 'console.log'), 'a');
      /** How the guest's process ended, when it ends while this start waits for it to boot. */
      let exited: string | undefined;
      try {
        const child = spawn(file, argv as string[], { detached: true, stdio: ['ignore', log.fd, log.fd], env });
        child.once('exit', (code, exitSignal) => (exited = exitSignal ? `killed by ${exitSignal}` : `exit code ${code}`));
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve);
          child.once('error', reject);
        });
        child.unref();
        await writeFile(join(dir, 'uml.pid'), String(child.pid));
      } finally {
        await log.close();
      }
      await writeFile(join(dir, 'env.json'), JSON.stringify({ ...record, started: true, startedAt: new Date().toISOString() }));
      const revert = new Revert();
      revert.add(() => this.networks.detach(id));
      revert.add(() => this.kill(id));
      try {
        for (;;) {
          if (await stat(join(this.layout.host(id), 'ready')).then(() => true, () => false)) break;
          // The child's own exit is the test, not /proc: while the cgroup shell execs linux.uml its
          // cmdline reads empty for a moment, which a loaded machine stretches past a poll.
          if (exited !== undefined) throw new UnavailableError(`UML guest ${id} stopped while booting (${exited}); the last lines of its console: ${(await this.tail(id, 20)).trim()}`, { id });
          if (signal.aborted) throw signal.reason;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        revert.success();
      } finally {
        await revert.run();
      }
    });
  }

  async stop(id: string, options?: StopOptions): Promise<void> {
    await this.record(id);
    if (!(await this.running(id))) return;
    const grace = (options?.graceSeconds ?? 10) * 1000;
    await withDeadline(`stop ${id}`, options, grace + 30_000, async (signal) => {
      const socket = this.layout.mconsole(id);
      await mconsole(socket, ['sysrq', 's'], signal).catch(() => undefined);
      await mconsole(socket, ['halt'], signal).catch(() => undefined);
      if (!(await waitForExit(() => this.running(id), grace))) await this.kill(id);
      await this.cgroups.remove(id).catch(() => undefined);
      await this.networks.detach(id);
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<void> {
    assertEnvironmentId(id);
    await withDeadline(`destroy ${id}`, options, 60_000, async () => {
      if (await this.running(id)) await this.kill(id);
      await this.removeCgroup(id);
      await this.networks.detach(id);
      const managed = await this.record(id).then((r) => managedNetworkOf(r.spec.iface.network), () => undefined);
      await rm(join(this.layout.run, id), { recursive: true, force: true });
      await rm(this.layout.env(id), { recursive: true, force: true });
      if (managed) await this.networks.release(managed);
    });
  }

  async inspect(id: string): Promise<EnvironmentInfo> {
    return this.info(await this.record(id));
  }

  async list(): Promise<EnvironmentInfo[]> {
    const ids = await readdir(this.layout.envs).catch(() => [] as string[]);
    const out: EnvironmentInfo[] = [];
    for (const id of ids) {
      const record = await this.record(id).catch(() => undefined);
      if (record) out.push(await this.info(record));
    }
    return out;
  }

  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    const record = await this.record(id);
    const limit = (record.spec.limits?.memoryBytes ?? this.options.defaultMemoryBytes ?? 128 * MIB);
    const dir = this.layout.env(id);
    const diskUsedBytes = await this.diskUsed(dir, record);
    const pid = await this.pid(id);
    if (!pid || !(await this.running(id))) {
      return { at: new Date(), cpuSeconds: 0, memoryBytes: 0, memoryLimitBytes: limit, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0, diskUsedBytes };
    }
    return withDeadline(`stats ${id}`, options, 20_000, async (signal) => {
      const [cgroupCpu, guest] = await Promise.all([this.cgroups.cpuSeconds(id), guestCounters(this.layout.mconsole(id), signal)]);
      const cpuSeconds = cgroupCpu ?? (await guestCpuSeconds(pid));
      return { at: new Date(), cpuSeconds, ...guest, memoryLimitBytes: limit, ...(await this.networks.counters(id)), diskUsedBytes };
    });
  }

  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    return withDeadline(`import image ${spec.name}`, options, 300_000, (signal) => importImage(this.layout, source, spec, signal));
  }

  async exportImage(image: ImageRef): Promise<Readable> {
    return createReadStream(await imageTar(this.layout, image.ref));
  }

  async exportEnvironment(id: string, options?: CallOptions): Promise<Readable> {
    const record = await this.record(id);
    return withDeadline(`export ${id}`, options, 600_000, async (signal) => {
      const dir = this.layout.env(id);
      const paused = await this.running(id);
      const socket = this.layout.mconsole(id);
      if (paused) {
        await mconsole(socket, ['sysrq', 's'], signal);
        await mconsole(socket, ['stop'], signal);
      }
      try {
        const disk = record.disk === 'cow' ? { cow: join(dir, 'cow.img'), base: baseDisk(this.layout, record.spec.image.ref) } : { root: join(dir, 'root.img') };
        return await exportArchive(this.layout.root, record.spec, disk, signal);
      } finally {
        if (paused) await mconsole(socket, ['go']).catch(() => undefined);
      }
    });
  }

  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`import ${spec.id}`, options, 600_000, (signal) => this.makeEnvironment(spec, 'private', (dir) => importArchive(source, dir, spec, signal)));
  }

  async resize(id: string, limits: ResourceLimits, options?: CallOptions): Promise<void> {
    const record = await this.record(id);
    assertLimitsSupported(this, limits);
    await withDeadline(`resize ${id}`, options, 30_000, async () => {
      const merged = { ...record.spec.limits, ...limits };
      const running = await this.running(id);
      if (running && limits.memoryBytes !== undefined && limits.memoryBytes !== record.spec.limits?.memoryBytes) {
        throw new UnsupportedOperationError('changing the memory of a running UML guest', `driver ${this.name}`, 'mem= is fixed at boot: stop it first');
      }
      if (running && this.cgroups.usable) await this.cgroups.apply(id, merged);
      await writeFile(join(this.layout.env(id), 'env.json'), JSON.stringify({ ...record, spec: { ...record.spec, limits: merged } }));
    });
  }

  async exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult> {
    await this.record(id);
    if (!(await this.running(id))) throw new UnavailableError(`environment ${id} is not running`, { id });
    return withDeadline(`exec in ${id}`, options, 120_000, (signal) => guestExec(this.layout.host(id), command, options?.stdin ?? '', signal, () => this.running(id)));
  }

  async logs(id: string, options?: CallOptions & { tail?: number }): Promise<string> {
    await this.record(id);
    return this.tail(id, options?.tail);
  }

  /** The last `lines` lines of the guest console (all of it without `lines`). */
  private async tail(id: string, lines?: number): Promise<string> {
    const text = await readFile(join(this.layout.env(id), 'console.log'), 'utf8').catch(() => '');
    if (lines === undefined) return text;
    return text.split('\n').slice(-lines - 1).join('\n');
  }

  private async record(id: string): Promise<EnvRecord> {
    assertEnvironmentId(id);
    const text = await readFile(join(this.layout.env(id), 'env.json'), 'utf8').catch(() => undefined);
    if (text === undefined) throw new EnvironmentNotFoundError(this.name, id);
    return JSON.parse(text) as EnvRecord;
  }

  private async pid(id: string): Promise<number | undefined> {
    const text = await readFile(join(this.layout.env(id), 'uml.pid'), 'utf8').catch(() => undefined);
    return text ? Number(text) : undefined;
  }

  private async running(id: string): Promise<boolean> {
    return isGuestProcess(await this.pid(id), id, this.layout.run);
  }

  /** Kills the guest's whole process group (it was spawned detached, as a group leader). */
  private async kill(id: string): Promise<void> {
    const pid = await this.pid(id);
    if (!pid || !(await this.running(id))) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
    await waitForExit(() => this.running(id), 10_000);
  }

  /** Kills what is left in the guest's cgroup and removes it (UML's helpers can outlive the main process briefly). */
  private async removeCgroup(id: string): Promise<void> {
    if (!this.cgroups.usable) return;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.cgroups.remove(id);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 100) throw e;
        for (const pid of await this.cgroups.pids(id)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private async state(id: string, record: EnvRecord): Promise<EnvironmentState> {
    if (await this.running(id)) return 'running';
    return record.started ? 'stopped' : 'created';
  }

  private async info(record: EnvRecord): Promise<EnvironmentInfo> {
    const { spec } = record;
    const state = await this.state(spec.id, record);
    return {
      id: spec.id,
      handle: `${this.layout.run}/${spec.id}`,
      state,
      image: spec.image,
      addresses: [managedNetworkOf(spec.iface.network)?.address, managedNetworkOf(spec.iface.network)?.ipv6?.address].filter((a): a is string => a !== undefined),
      hostname: spec.iface.hostname,
      limits: { ...(await this.cpuLimits(spec.id, spec.limits, state)), memoryBytes: spec.limits?.memoryBytes ?? this.options.defaultMemoryBytes ?? 128 * MIB },
      labels: { ...spec.labels, 'rsp.environment': spec.id },
      ...(state === 'running' && record.startedAt ? { startedAt: new Date(record.startedAt) } : {}),
    };
  }

  /** The CPU limits in force: the cgroup's while running, else those recorded for the next start. */
  private async cpuLimits(id: string, limits: ResourceLimits | undefined, state: EnvironmentState): Promise<ResourceLimits> {
    const recorded: ResourceLimits = {};
    if (limits?.cpuWeight !== undefined) recorded.cpuWeight = limits.cpuWeight;
    if (limits?.cpuQuota !== undefined) recorded.cpuQuota = limits.cpuQuota;
    if (state !== 'running' || !this.cgroups.usable) return recorded;
    const applied = await this.cgroups.read(id);
    if (!applied) return recorded;
    return { ...(limits?.cpuWeight !== undefined ? { cpuWeight: applied.cpuWeight } : {}), ...(applied.cpuQuota !== undefined ? { cpuQuota: applied.cpuQuota } : {}) };
  }

  private async diskUsed(dir: string, record: EnvRecord): Promise<number> {
    const file = join(dir, record.disk === 'cow' ? 'cow.img' : 'root.img');
    return stat(file).then((s) => s.blocks * 512, () => 0);
  }

  /** The shim's path when this host needs it (built once), else undefined. */
  private xstateShim(): Promise<string | undefined> {
    this.shim ??= (async () => {
      const mode = this.options.xstateShim ?? 'auto';
      if (mode === 'never' || (mode === 'auto' && !(await needsXstateShim()))) return undefined;
      return buildXstateShim(this.layout.lib);
    })();
    this.shim.catch(() => (this.shim = undefined));
    return this.shim;
  }
}
