import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { arch, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { withDeadline } from '../call';
import type {
  CallOptions,
  DriverCapabilities,
  DriverCore,
  DriverOptional,
  EnvironmentInfo,
  EnvironmentSpec,
  EnvironmentStats,
  ExecResult,
  ImageImportSpec,
  ImageRef,
  ImportedImage,
  ProbeResult,
  StopOptions,
} from '../contract';
import { assertEnvironmentId, BadInputError, ConflictError, EnvironmentExistsError, EnvironmentNotFoundError, UnsupportedOperationError } from '../errors';
import { Revert } from '../revert';
import { readCgroupFile } from '../host/cgroups';
import { readOwnerOf, writeOwner } from '../host/owner';
import type { OwnerRecord } from '../host/owner';
import { openImage, storeImage, writeInterfaceFiles } from '../host/rootfs';
import { runTool } from '../host/run-tool';
import { packTar, unpackStream } from '../host/tar-stream';
import { restoreVolumes, volumePackArgs } from '../host/volumes';
import { validateSpec } from '../host/validate';
import { readAddress, readLimits, setKillTimeout, writeConfigTree } from './config-tree';
import type { ResolvedVserverOptions, VserverDriverOptions } from './options';
import { resolveVserverOptions } from './options';
import { VserverCli } from './vserver-cli';

/** util-vserver guests RSP makes are named `rsp-<environment id>`. */
export const GUEST_PREFIX = 'rsp-';
const EXEC_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The vserver driver: Linux-VServer guests through util-vserver's tools (`vserver NAME build|
 * start|stop|status|exec|delete`, `vserver-stat`) and its `/etc/vservers/NAME` config tree.
 * Limits map to the tree as util-vserver documents them (see config-tree.ts). An `rsp.json` in
 * the guest's config directory marks it as RSP's. Usage comes from the guest's cgroups
 * (`<cgroupRoot>/<controller>/<name>`, util-vserver's cgroup support) and its /proc/net/dev.
 */
export class VserverDriver implements DriverCore, Pick<DriverOptional, 'exec' | 'importImage' | 'exportImage' | 'exportEnvironment' | 'importEnvironment'> {
  readonly technology = 'vserver';
  readonly name: string;
  private readonly options: ResolvedVserverOptions;
  private readonly cli: VserverCli;

  constructor(options: VserverDriverOptions = {}) {
    this.options = resolveVserverOptions(options);
    this.name = this.options.name;
    this.cli = new VserverCli(this.options);
  }

  async probe(options?: CallOptions): Promise<ProbeResult> {
    try {
      const stat = await this.cli.stat(options?.signal);
      if (process.getuid?.() !== 0) return { available: false, reason: 'util-vserver needs root' };
      const tool = await runTool(this.options.vserverTool, ['--help'], { signal: options?.signal, env: { PATH: process.env.PATH ?? '', ...this.options.toolEnv } });
      if (!/vserver/.test(tool.stdout + tool.stderr)) return { available: false, reason: `${this.options.vserverTool} does not look like util-vserver's vserver` };
      return {
        available: true,
        version: `util-vserver (${stat.length} running guests)`,
        host: { cpus: cpus().length, memoryBytes: totalmem(), diskBytes: 0, kernel: release(), arch: arch() },
      };
    } catch (e) {
      return { available: false, reason: `util-vserver tools unusable: ${(e as Error).message}` };
    }
  }

  capabilities(): DriverCapabilities {
    return {
      operations: ['importImage', 'exportImage', 'exportEnvironment', 'importEnvironment', 'exec'],
      limits: ['cpuWeight', 'cpuQuota', 'memoryBytes', 'pids', ...(this.options.diskLimits ? (['diskBytes'] as const) : [])],
    };
  }

  async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`create ${spec.id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      validateSpec(this, spec);
      const image = spec.image.ref.startsWith('/') ? await stat(spec.image.ref).catch(() => undefined) : undefined;
      if (!image?.isFile()) throw new BadInputError(`root filesystem image ${spec.image.ref} does not exist or is not a file`, { image: spec.image.ref });
      return this.provision(spec, signal, (name, hostname) => this.cli.ok(name, 'build', ['-m', 'template', '--hostname', hostname, '--', '-t', spec.image.ref], { signal }).then(() => undefined));
    });
  }

  async start(id: string, options?: CallOptions): Promise<void> {
    await withDeadline(`start ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, owner, confDir } = await this.owned(id);
      if ((await this.cli.status(name, signal)) === 'running') return;
      await this.cli.ok(name, 'start', [], { signal });
      await writeOwner(confDir, { ...owner, startedAt: new Date().toISOString() });
    });
  }

  async stop(id: string, options?: StopOptions): Promise<void> {
    await withDeadline(`stop ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name, confDir } = await this.owned(id);
      if ((await this.cli.status(name, signal)) !== 'running') return;
      if (options?.graceSeconds !== undefined) await setKillTimeout(confDir, options.graceSeconds);
      await this.cli.ok(name, 'stop', [], { signal });
    });
  }

  async destroy(id: string, options?: CallOptions): Promise<void> {
    await withDeadline(`destroy ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const name = guestName(id, this.options.namePrefix);
      const confDir = join(this.options.confDir, name);
      if (!(await readOwnerOf(confDir, this.options.owner))) return;
      if ((await this.cli.status(name, signal)) === 'running') await this.cli.ok(name, 'stop', [], { signal });
      await this.cli.ok(name, 'delete', [], { signal });
      await rm(confDir, { recursive: true, force: true });
    });
  }

  async inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo> {
    assertEnvironmentId(id);
    return withDeadline(`inspect ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const name = guestName(id, this.options.namePrefix);
      const status = await this.cli.status(name, signal);
      return this.describe(name, status === 'running');
    });
  }

  async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return withDeadline(`list on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const running = new Set((await this.cli.stat(signal)).map((s) => s.name));
      const entries = await readdir(this.options.confDir).catch(() => [] as string[]);
      const found: EnvironmentInfo[] = [];
      for (const entry of entries.filter((e) => e.startsWith(this.options.namePrefix)).sort()) {
        const info = await this.describe(entry, running.has(entry)).catch(() => undefined);
        if (info) found.push(info);
      }
      return found;
    });
  }

  async stats(id: string, options?: CallOptions): Promise<EnvironmentStats> {
    return withDeadline(`stats ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name } = await this.owned(id);
      const at = new Date();
      const running = (await this.cli.stat(signal)).find((s) => s.name === name);
      if (!running) return { at, cpuSeconds: 0, memoryBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, networkRxBytes: 0, networkTxBytes: 0, pids: 0 };
      const cg = (controller: string) => join(this.options.cgroupRoot, controller, name);
      const cpuNs = Number((await readCgroupFile(cg('cpuacct'), 'cpuacct.usage')) ?? NaN);
      const memory = Number((await readCgroupFile(cg('memory'), 'memory.usage_in_bytes')) ?? NaN);
      const limitText = await readCgroupFile(cg('memory'), 'memory.limit_in_bytes');
      let read = 0;
      let write = 0;
      for (const line of ((await readCgroupFile(cg('blkio'), 'blkio.throttle.io_service_bytes')) ?? '').split('\n')) {
        const [, op, value] = line.split(' ');
        if (op === 'Read') read += Number(value);
        if (op === 'Write') write += Number(value);
      }
      const net = await this.cli.run(name, 'exec', ['/bin/cat', '/proc/net/dev'], { signal });
      let rx = 0;
      let tx = 0;
      for (const line of net.stdout.split('\n').slice(2)) {
        const [iface, rest] = line.split(':');
        if (!rest || iface!.trim() === 'lo') continue;
        const f = rest.trim().split(/\s+/).map(Number);
        rx += f[0] ?? 0;
        tx += f[8] ?? 0;
      }
      return {
        at,
        // cgroup figures when util-vserver's cgroup support is on; vserver-stat's otherwise.
        cpuSeconds: Number.isFinite(cpuNs) ? cpuNs / 1e9 : running.userSeconds + running.systemSeconds,
        memoryBytes: Number.isFinite(memory) ? memory : running.rssBytes,
        memoryLimitBytes: limitText && BigInt(limitText) < 2n ** 62n ? Number(limitText) : undefined,
        diskReadBytes: read,
        diskWriteBytes: write,
        networkRxBytes: rx,
        networkTxBytes: tx,
        pids: running.processes,
      };
    });
  }

  async exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult> {
    if (!command.length) throw new BadInputError('exec needs a command', { id });
    return withDeadline(`exec in ${id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      const { name } = await this.owned(id);
      if ((await this.cli.status(name, signal)) !== 'running') throw new ConflictError(`environment ${id} is not running`, { id });
      // `env -i` keeps the host's environment out; /sbin/rsp-start loads the config values.
      return this.cli.run(name, 'exec', ['env', '-i', `PATH=${EXEC_PATH}`, '/sbin/rsp-start', ...command], { signal, stdin: options?.stdin });
    });
  }

  async importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage> {
    if (spec.format !== 'rootfs-tar') throw new UnsupportedOperationError(`image format ${String(spec.format)}`, `driver ${this.name}`);
    return withDeadline(`import image ${spec.name} on ${this.name}`, options, this.options.timeoutMs, () => storeImage(source, this.options.imageDir));
  }

  async exportImage(image: ImageRef): Promise<Readable> {
    return openImage(image.ref);
  }

  /** The guest's root directory (as `rootfs/`), RSP's record of it and its volumes' content (`volumes/<name>/`), as one tar stream. */
  async exportEnvironment(id: string): Promise<Readable> {
    const { name, confDir, owner } = await this.owned(id);
    return packTar(name, [...volumePackArgs(owner.volumes), '-C', this.options.rootDir, '--transform', `s,^${name}\\(/\\|$\\),rootfs\\1,S`, name, '-C', confDir, 'rsp.json']);
  }

  async importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return withDeadline(`import ${spec.id} on ${this.name}`, options, this.options.timeoutMs, async (signal) => {
      validateSpec(this, spec);
      await mkdir(this.options.rootDir, { recursive: true });
      const staging = join(this.options.rootDir, `.rsp-import-${randomBytes(6).toString('hex')}`);
      await mkdir(staging);
      try {
        await unpackStream(source, staging, signal);
        if (!(await stat(join(staging, 'rootfs')).then((s) => s.isDirectory(), () => false))) {
          throw new BadInputError('the stream is not a vserver environment export (no rootfs/)', { id: spec.id });
        }
        return await this.provision(spec, signal, async (name, hostname) => {
          await this.cli.ok(name, 'build', ['-m', 'skeleton', '--hostname', hostname], { signal });
          const vdir = join(this.options.rootDir, name);
          await rm(vdir, { recursive: true, force: true });
          await rename(join(staging, 'rootfs'), vdir);
          await restoreVolumes(staging, spec.volumes, signal);
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    });
  }

  // --- internals -----------------------------------------------------------------------------

  private async owned(id: string): Promise<{ name: string; confDir: string; owner: OwnerRecord }> {
    const name = guestName(id, this.options.namePrefix);
    const confDir = join(this.options.confDir, name);
    const owner = await readOwnerOf(confDir, this.options.owner);
    if (!owner) throw new EnvironmentNotFoundError(this.name, id);
    return { name, confDir, owner };
  }

  private async provision(spec: EnvironmentSpec, signal: AbortSignal, build: (name: string, hostname: string) => Promise<void>): Promise<EnvironmentInfo> {
    validateSpec(this, spec);
    const name = guestName(spec.id, this.options.namePrefix);
    const confDir = join(this.options.confDir, name);
    const vdir = join(this.options.rootDir, name);
    let bridge: string | undefined;
    const net = spec.iface.network;
    if (net?.mode === 'bridge') {
      if (!net.ipv4) throw new BadInputError('a vserver guest on a bridge needs a static ipv4 address (interfaces/0/ip)', { id: spec.id });
      bridge = net.bridge ?? 'lxcbr0';
      if (!(await stat(`/sys/class/net/${bridge}/bridge`).then(() => true, () => false))) {
        throw new BadInputError(`bridge ${bridge} does not exist on this host`, { bridge });
      }
    }
    for (const v of spec.volumes ?? []) {
      if (!(await stat(v.hostPath).then((s) => s.isDirectory(), () => false))) throw new BadInputError(`volume ${v.name}: host directory ${v.hostPath} does not exist`, { volume: v.name });
    }
    if (!spec.id || (await stat(confDir).then(() => true, () => false))) throw new EnvironmentExistsError(this.name, spec.id);
    await mkdir(this.options.confDir, { recursive: true });
    await mkdir(this.options.rootDir, { recursive: true });
    const revert = new Revert();
    try {
      revert.add(async () => {
        await rm(confDir, { recursive: true, force: true });
        await rm(vdir, { recursive: true, force: true });
      });
      await build(name, spec.iface.hostname);
      await writeInterfaceFiles(vdir, spec.iface, spec.command);
      await writeConfigTree(confDir, spec, vdir, bridge);
      await writeOwner(confDir, { environment: spec.id, image: spec.image, labels: { ...(spec.labels ?? {}), 'rsp.environment': spec.id }, hostname: spec.iface.hostname, ...(spec.volumes?.length ? { volumes: spec.volumes } : {}), ...(this.options.owner ? { owner: this.options.owner } : {}), createdAt: new Date().toISOString() });
      const info = await this.describe(name, false);
      revert.success();
      return info;
    } finally {
      await revert.run();
    }
  }

  private async describe(name: string, running: boolean): Promise<EnvironmentInfo> {
    const confDir = join(this.options.confDir, name);
    const owner = await readOwnerOf(confDir, this.options.owner);
    if (!owner || `${this.options.namePrefix}${owner.environment}` !== name) throw new EnvironmentNotFoundError(this.name, name.slice(this.options.namePrefix.length));
    const address = await readAddress(confDir);
    const hostname = await readFile(join(confDir, 'uts', 'nodename'), 'utf8').then((t) => t.trim(), () => owner.hostname);
    return {
      id: owner.environment,
      handle: name,
      state: running ? 'running' : owner.startedAt ? 'stopped' : 'created',
      image: owner.image,
      addresses: running && address ? [address] : [],
      hostname,
      limits: await readLimits(confDir),
      labels: owner.labels,
      startedAt: running && owner.startedAt ? new Date(owner.startedAt) : undefined,
    };
  }
}

/** The guest name of an environment: `<prefix><id>` (prefix `rsp-` unless the instance names another). */
export function guestName(id: string, prefix: string = GUEST_PREFIX): string {
  assertEnvironmentId(id);
  return `${prefix}${id}`;
}

/** Creates the vserver driver (what the registry and the conformance suite call). */
export function createVserverDriver(options: VserverDriverOptions = {}): VserverDriver {
  return new VserverDriver(options);
}

