import type { Readable, Writable } from 'node:stream';

/**
 * The driver contract: what every virtualization driver (Docker, LXC, libvirt, vserver, fake, or a
 * plugin's) implements. A small required core and optional capabilities, the way libvirt and Nomad
 * do it; an absent optional method is answered by one `UnsupportedOperationError`.
 *
 * Drivers never touch the database: they receive specs and return facts.
 * Every environment is addressed by its RSP environment id (`EnvironmentSpec.id`), which the driver
 * maps to its own names (e.g. container `rsp-<id>`) and labels.
 */

/** The technology a driver runs. Plugins may add their own. */
export type Technology =
  | 'docker'
  | 'lxc'
  | 'libvirt-kvm'
  | 'libvirt-qemu'
  | 'libvirt-xen'
  | 'libvirt-lxc'
  | 'vserver'
  | 'fake'
  | (string & {});

/** Facts about the machine a driver runs on, found by `probe()`. */
export interface HostFacts {
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
  kernel: string;
  arch: string;
}

/** What `probe()` found: whether the engine is here and usable, and if not, why. */
export interface ProbeResult {
  available: boolean;
  /** The engine's version, when available. */
  version?: string;
  /** Why the driver cannot be used here, when unavailable. */
  reason?: string;
  host?: HostFacts;
}

/** The optional operations a driver may offer. */
export type OptionalCapability =
  | 'importImage'
  | 'exportImage'
  | 'exportEnvironment'
  | 'importEnvironment'
  | 'snapshot'
  | 'listSnapshots'
  | 'rollbackSnapshot'
  | 'deleteSnapshot'
  | 'exportSnapshot'
  | 'migrate'
  | 'exec'
  | 'interactiveExec'
  | 'console'
  | 'logs'
  | 'readLog'
  | 'resize';

/** Every optional capability, for enumeration. */
export const OPTIONAL_CAPABILITIES: readonly OptionalCapability[] = [
  'importImage',
  'exportImage',
  'exportEnvironment',
  'importEnvironment',
  'snapshot',
  'listSnapshots',
  'rollbackSnapshot',
  'deleteSnapshot',
  'exportSnapshot',
  'migrate',
  'exec',
  'interactiveExec',
  'console',
  'logs',
  'readLog',
  'resize',
];

/** The resource limits a spec may ask for. */
export type LimitName = keyof ResourceLimits;

/**
 * Parts of the host↔image interface a driver may honour beyond the required ones:
 * - `managedNetwork`: with `network.mode = bridge`, a `bridge` name, an `ipv4` address (with
 *   prefix) and a `gateway`, the driver attaches the environment to that network of its engine
 *   with exactly that address, making the network first (idempotently) when it is missing — the
 *   gateway assigns the addresses, the driver never picks one;
 * - `publishedPorts`: `ports` are published from the host to the environment;
 * - `readOnlyRoot`: `readOnlyRoot: true` makes the root filesystem read-only (volumes and a tmpfs
 *   on `/tmp` and `/run` stay writable).
 * A spec asking for `ports` or `readOnlyRoot` from a driver without the feature fails with
 * UNSUPPORTED_OPERATION; a driver without `managedNetwork` treats `bridge`/`ipv4` as it always did.
 */
export type InterfaceFeature = 'managedNetwork' | 'publishedPorts' | 'readOnlyRoot' | 'ipv6';

/**
 * A format of an image's bits: `rootfs-tar`, a root filesystem as a tar archive (plain or
 * compressed with gzip, bzip2, xz or zstd), is what every built-in driver takes; a plugin may name
 * its own (e.g. `qcow2`).
 */
export type ImageFormat = 'rootfs-tar' | (string & {});

/** The image formats of a driver that declares none (`DriverCapabilities.imageFormats`). */
export const DEFAULT_IMAGE_FORMATS: readonly ImageFormat[] = ['rootfs-tar'];

/** What a driver can do, beyond the required core. */
export interface DriverCapabilities {
  /** Optional operations it implements. */
  operations: OptionalCapability[];
  /** Limits it enforces. Asking for any other limit fails with UNSUPPORTED_OPERATION, never silently. */
  limits: LimitName[];
  /** Interface features it honours; absent: none. */
  features?: InterfaceFeature[];
  /**
   * The formats of image bits it takes (`ImageImportSpec.format`); absent: `DEFAULT_IMAGE_FORMATS`.
   * The gateway refuses an upload for the driver's technology whose bytes are of none of them
   * (when it can tell the format from the bytes' start), before keeping any.
   */
  imageFormats?: ImageFormat[];
}

/**
 * Resource limits of an environment. Every field is optional; absent means "no limit".
 * Units are fixed: weights are relative, CPU quota in CPUs, sizes in bytes, bandwidth in bits/s.
 */
export interface ResourceLimits {
  /** Relative CPU weight, 1–10000; 100 is a full share's default (a half share gets 50, like nice 10). */
  cpuWeight?: number;
  /** Hard CPU cap, in CPUs (0.5 = half a core). */
  cpuQuota?: number;
  memoryBytes?: number;
  diskBytes?: number;
  /** Network bandwidth cap, bits per second. */
  networkBitsPerSecond?: number;
  /** Maximum number of processes. */
  pids?: number;
}

/** A volume kept outside the image: config or data that survives `rebuild`. */
export interface VolumeSpec {
  /** Safe name, `[a-z0-9][a-z0-9_-]*`. */
  name: string;
  kind: 'config' | 'data';
  /** Absolute directory on the host (under the RSP data directory), created by the caller. */
  hostPath: string;
  /** Absolute path inside the environment. */
  mountPath: string;
  readOnly?: boolean;
}

/** Network of an environment. */
export interface NetworkSpec {
  /** `none`: loopback only; `bridge`: a bridge the driver uses or is configured with. */
  mode: 'none' | 'bridge';
  /** Bridge name when the driver supports choosing one (an existing bridge, or Docker network). */
  bridge?: string;
  /**
   * A managed network to join (feature `managedNetwork`; it needs `ipv4` and `gateway`): the
   * driver makes it when missing, with `gateway` as the host's address on it, and removes it with
   * its last environment. `bridge` is not used then.
   */
  network?: string;
  /** Static IPv4 address with prefix, e.g. `10.0.3.15/24`; absent: the engine assigns one. */
  ipv4?: string;
  /** The network's gateway (the host's address on it), e.g. `10.0.3.1`. */
  gateway?: string;
  /**
   * Static IPv6 address with its /64 prefix on the managed network, e.g. `fd3a:1b2c:4d5e::2/64`
   * (with `gateway6`); absent: IPv4 only. A host whose kernel has IPv6 off refuses it
   * (UNSUPPORTED_OPERATION, naming the switch).
   */
  ipv6?: string;
  /** The host's IPv6 address on the managed network, e.g. `fd3a:1b2c:4d5e::1`. */
  gateway6?: string;
}

/** A port of the host published to a port of the environment (feature `publishedPorts`). */
export interface PortSpec {
  /** 1–65535, on every address of the host. */
  hostPort: number;
  /** 1–65535, inside the environment. */
  port: number;
  protocol: 'tcp' | 'udp';
}

/**
 * The standard host↔image interface (seed 002): what every image can rely on, whatever the
 * technology. Config values reach the environment as environment variables and as files
 * `/etc/rsp/config.env` (KEY=VALUE lines) where the driver can write files.
 */
export interface InterfaceSpec {
  hostname: string;
  dns?: string[];
  network?: NetworkSpec;
  /** Where the environment's logs go: kept by the engine (`local`) or sent to a syslog address. */
  log?: { target: 'local' } | { target: 'syslog'; address: string };
  config?: Record<string, string>;
  /** Host ports published to the environment (feature `publishedPorts`). */
  ports?: PortSpec[];
  /** A read-only root filesystem (feature `readOnlyRoot`); absent or false: writable. */
  readOnlyRoot?: boolean;
}

/** A reference to an image the driver has imported. */
export interface ImageRef {
  /** The driver's own reference (image id, template path…), returned by `importImage`. */
  ref: string;
  /** sha256 of the imported bits, `sha256:<hex>`. */
  digest?: string;
}

/** Everything needed to create an environment. Technology-neutral. */
export interface EnvironmentSpec {
  /** RSP environment id: `[a-z0-9][a-z0-9-]{0,62}`; the driver names and labels its objects from it. */
  id: string;
  image: ImageRef;
  limits?: ResourceLimits;
  volumes?: VolumeSpec[];
  iface: InterfaceSpec;
  /** The command to run as the environment's main process; default: the image's. */
  command?: string[];
  /** Labels to keep on the engine's objects (the driver adds `rsp.environment`). */
  labels?: Record<string, string>;
}

/** Where an environment is in its life, as the engine reports it. */
export type EnvironmentState = 'created' | 'running' | 'stopped' | 'paused' | 'unknown';

/** What a driver reports about one environment. */
export interface EnvironmentInfo {
  /** The RSP environment id. */
  id: string;
  /** The engine's own id or name for it. */
  handle: string;
  state: EnvironmentState;
  image: ImageRef;
  /** IP addresses it has, without prefix. */
  addresses: string[];
  hostname?: string;
  /** The limits actually applied by the engine. */
  limits: ResourceLimits;
  labels: Record<string, string>;
  startedAt?: Date;
}

/** Usage counters of one environment. Counters are cumulative since the environment started. */
export interface EnvironmentStats {
  at: Date;
  /** CPU time used, seconds (cumulative). */
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes?: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  networkRxBytes: number;
  networkTxBytes: number;
  pids?: number;
  /** Bytes the environment's own filesystem (rootfs / writable layer, not its volumes) takes on the host, when the driver can tell. */
  diskUsedBytes?: number;
}

/** Options every call that touches the outside world takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Gives up (with TIMEOUT) after this long; each driver has defaults. */
  timeoutMs?: number;
}

/** Options of `stop`. */
export interface StopOptions extends CallOptions {
  /** Seconds to wait for a clean shutdown before killing. */
  graceSeconds?: number;
}

/** What to record about an image being imported. */
export interface ImageImportSpec {
  name: string;
  version?: string;
  /** The stream's format, one of the driver's `imageFormats`. `rootfs-tar`: a root filesystem as a tar archive. */
  format: ImageFormat;
}

/** An imported image. */
export interface ImportedImage {
  ref: string;
  /** `sha256:<hex>` of the imported bytes. */
  digest: string;
  /** Length of the imported bytes (what `digest` covers), not the engine's unpacked size. */
  sizeBytes: number;
}

/** Result of `exec`. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Options of `interactiveExec`. */
export interface InteractiveExecOptions extends CallOptions {
  /** Run the command on a terminal (stdout and stderr are then one stream, `stdout`). */
  tty?: boolean;
  /** The terminal's size at the start, with `tty`. */
  columns?: number;
  rows?: number;
}

/**
 * A process started by `interactiveExec`: its standard streams, a terminal resize, and its exit
 * status. Ending `stdin` closes the process's standard input; `kill` ends it (the exit then settles).
 */
export interface InteractiveProcess {
  stdin: Writable;
  stdout: Readable;
  /** Empty with a TTY (the terminal merges both into `stdout`). */
  stderr: Readable;
  /** Sets the terminal's size (ignored without a TTY). */
  resize(columns: number, rows: number): Promise<void>;
  /** Settles with the exit code once the process ended and its output was read to the end. */
  exit: Promise<number>;
  /** Ends the process (its exit code is then whatever the engine reports, or -1). */
  kill(): void;
}

/** Options of `readLog`. */
export interface LogReadOptions extends CallOptions {
  /** Only the last this many lines (of what the other options select). */
  tail?: number;
  /** Only lines written at or after this time; UNSUPPORTED_OPERATION where the log keeps no times (a console log file). */
  since?: Date;
  /** A `cursor` an earlier read returned: only what was written after it (`since` then does not apply). */
  cursor?: string;
}

/** Part of an environment's console/stdout log, and where the next read goes on from. */
export interface LogRead {
  /** The text, whole lines except perhaps the last one written so far. */
  text: string;
  /** Opaque: pass it back as `cursor` to read only what is written after this read. */
  cursor: string;
}

/** A snapshot of an environment. */
export interface SnapshotInfo {
  name: string;
  createdAt: Date;
}

/**
 * The snapshot operations: a driver advertising one advertises all four (the conformance suite
 * checks it), and a driver without them refuses each with UNSUPPORTED_OPERATION.
 */
export const SNAPSHOT_CAPABILITIES = ['snapshot', 'listSnapshots', 'rollbackSnapshot', 'deleteSnapshot'] as const satisfies readonly OptionalCapability[];

/** The form of a snapshot name. */
export const SNAPSHOT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The required core every driver implements. */
export interface DriverCore {
  /** Unique name in a registry, e.g. `docker`. */
  readonly name: string;
  readonly technology: Technology;
  /** Is the engine here and usable? Never throws: an unusable engine is `{ available: false, reason }`. */
  probe(options?: CallOptions): Promise<ProbeResult>;
  capabilities(): DriverCapabilities;
  /** Creates (does not start) an environment. On failure nothing is left behind. CONFLICT if the id exists. */
  create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo>;
  start(id: string, options?: CallOptions): Promise<void>;
  /** Stops; stopping a stopped environment is not an error. */
  stop(id: string, options?: StopOptions): Promise<void>;
  /** Removes it and what the driver created for it; destroying a missing id is not an error. */
  destroy(id: string, options?: CallOptions): Promise<void>;
  /** NOT_FOUND if the id is unknown. */
  inspect(id: string, options?: CallOptions): Promise<EnvironmentInfo>;
  /** Every environment this driver owns (labelled as RSP's); never others. */
  list(options?: CallOptions): Promise<EnvironmentInfo[]>;
  stats(id: string, options?: CallOptions): Promise<EnvironmentStats>;
}

/** The optional capabilities; each is present only when advertised in `capabilities().operations`. */
export interface DriverOptional {
  importImage(source: Readable, spec: ImageImportSpec, options?: CallOptions): Promise<ImportedImage>;
  exportImage(image: ImageRef, options?: CallOptions): Promise<Readable>;
  /** The environment's filesystem and config as one stream (for replication, backups, migration). */
  exportEnvironment(id: string, options?: CallOptions): Promise<Readable>;
  /** Creates an environment from an `exportEnvironment` stream, with `spec` for its new identity. */
  importEnvironment(source: Readable, spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo>;
  /**
   * Takes a snapshot named `name` (`SNAPSHOT_NAME_PATTERN`) of the environment, running or not:
   * its root filesystem (and what the driver documents beside it). CONFLICT if the name is taken.
   */
  snapshot(id: string, name: string, options?: CallOptions): Promise<SnapshotInfo>;
  /** The environment's snapshots, oldest first. */
  listSnapshots(id: string, options?: CallOptions): Promise<SnapshotInfo[]>;
  /**
   * Brings the environment back to the snapshot (what was written since is gone); the snapshot
   * stays. A running environment is running again afterwards. NOT_FOUND for an unknown name.
   */
  rollbackSnapshot(id: string, name: string, options?: CallOptions): Promise<void>;
  /** Removes the snapshot and the space it holds; a missing name is not an error. */
  deleteSnapshot(id: string, name: string, options?: CallOptions): Promise<void>;
  /**
   * The environment as `exportEnvironment` streams it (`importEnvironment` takes it), with what
   * the snapshot `name` holds instead of the live state: a consistent copy of a running
   * environment (what the snapshot does not hold, e.g. volumes the driver does not snapshot, is
   * read live; the driver documents it). NOT_FOUND for an unknown environment or name, before any
   * byte. Advertised only with the snapshot operations and `exportEnvironment`.
   */
  exportSnapshot(id: string, name: string, options?: CallOptions): Promise<Readable>;
  migrate(id: string, destinationUri: string, options?: CallOptions): Promise<void>;
  exec(id: string, command: string[], options?: CallOptions & { stdin?: string }): Promise<ExecResult>;
  /** Starts a command (an argument array) in a running environment with streamed standard input and output, on a terminal with `tty`. */
  interactiveExec(id: string, command: string[], options?: InteractiveExecOptions): Promise<InteractiveProcess>;
  /**
   * Attaches to the running environment's console (a VM's serial console, a container's main
   * process or /dev/console): its output as `stdout` (and `stderr` where the console keeps them
   * apart, else empty), `stdin` typed into it; `resize` sizes it where it is a terminal the
   * driver can size (else does nothing), ending `stdin` does not detach (only `kill` does),
   * detaching never stops the environment, and `exit` settles with 0 when the console goes away
   * (the environment stopped) or was detached. One session at a time: CONFLICT while another is open.
   */
  console(id: string, options?: CallOptions): Promise<InteractiveProcess>;
  logs(id: string, options?: CallOptions & { tail?: number }): Promise<string>;
  /** The environment's console/stdout log, read from a cursor so a caller can follow it by reading again. */
  readLog(id: string, options?: LogReadOptions): Promise<LogRead>;
  resize(id: string, limits: ResourceLimits, options?: CallOptions): Promise<void>;
}

/** A driver: the required core plus any of the optional capabilities. */
export type Driver = DriverCore & Partial<DriverOptional>;

/** The form of an environment id. */
export const ENVIRONMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The form of a volume name. */
export const VOLUME_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
