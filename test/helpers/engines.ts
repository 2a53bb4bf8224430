import { execFileSync } from 'node:child_process';
import { redactUrl } from '../../gateway/logging/redaction';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type Docker from 'dockerode';
import Redis from 'ioredis';
import { Client } from 'pg';
import { BUSYBOX } from '../fixtures/busybox-rootfs';
import { resolveDockerConfig } from '../../drivers/docker/config';
import { loadBinding } from '../../drivers/libvirt/binding';
import { guestKernel } from './libvirt';
import { labSupport } from './netns';

/**
 * The engines tests may need, probed once per run (in global setup). A test that needs one uses
 * `describeWithEngine`: when the engine is missing it skips and says why — unless `CI=true`,
 * where a missing engine is a failure.
 */
export type EngineName = 'postgres' | 'docker' | 'lxc' | 'vserver-emulation' | 'libvirt' | 'libvirt-qemu' | 'redis' | 'chromium' | 'netns' | 'uml';

/** What a probe found. */
export interface EngineStatus {
  available: boolean;
  detail: string;
}

/** Where tests find Redis (for the PubSub across replicas). */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Where tests find PostgreSQL: a server URL to an admin database (it creates one database per test file). */
export const POSTGRES_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Where the browser test finds Chromium (Debian's package). */
export const CHROMIUM = process.env.RSP_TEST_CHROMIUM ?? '/usr/bin/chromium';

const probes: Record<EngineName, () => Promise<EngineStatus>> = {
  /** Network namespaces with veth pairs and nftables drop rules (test/helpers/netns.ts): root, iproute2, nftables. */
  async netns() {
    return labSupport();
  },
  /** Asked up to three times, 10 s each: on a busy machine a first connection can take seconds. */
  async postgres() {
    let problem = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const client = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 10_000 });
      try {
        await client.connect();
        const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
        return { available: true, detail: `PostgreSQL ${rows[0]?.server_version} at ${redactUrl(POSTGRES_ADMIN_URL)}` };
      } catch (e) {
        problem = (e as Error).message;
        if (/ECONNREFUSED|ENOTFOUND|password|does not exist/.test(problem)) break;
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    return { available: false, detail: `no PostgreSQL server answers at ${redactUrl(POSTGRES_ADMIN_URL)} (${problem}); set TEST_DATABASE_URL` };
  },
  async lxc() {
    const version = tryRun('lxc-start', ['--version']);
    if (!version) return { available: false, detail: 'lxc-start not found (apt-get install lxc)' };
    if (process.getuid?.() !== 0) return { available: false, detail: 'LXC system containers need root' };
    if (!existsSync(BUSYBOX)) return { available: false, detail: `${BUSYBOX} missing (apt-get install busybox-static)` };
    if (!existsSync('/sys/class/net/lxcbr0/bridge')) return { available: false, detail: 'bridge lxcbr0 missing (ip link add lxcbr0 type bridge)' };
    return { available: true, detail: `LXC ${version}, bridge lxcbr0` };
  },
  async 'vserver-emulation'() {
    if (process.getuid?.() !== 0) return { available: false, detail: 'the vserver emulation runs guests with unshare/chroot and needs root' };
    if (!tryRun('unshare', ['--version'])) return { available: false, detail: 'unshare not found (util-linux)' };
    if (!existsSync(BUSYBOX)) return { available: false, detail: `${BUSYBOX} missing (apt-get install busybox-static)` };
    return { available: true, detail: 'util-vserver emulation (test/fixtures/vserver-emulator) with unshare + chroot' };
  },
  async redis() {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 10_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      const info = await client.info('server');
      return { available: true, detail: `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'} at ${REDIS_URL}` };
    } catch (e) {
      return { available: false, detail: `no Redis answers at ${REDIS_URL} (${(e as Error).message}); set TEST_REDIS_URL` };
    } finally {
      client.disconnect();
    }
  },
  /** The Docker engine at DOCKER_HOST or /var/run/docker.sock: socket reachable and `docker version` answered through the API. */
  async docker() {
    const config = resolveDockerConfig();
    // Required here: every test file imports this module, and only the probe (in global setup) needs dockerode's two hundred modules.
    const Dockerode = require('dockerode') as typeof Docker;
    const engine = new Dockerode({ ...config.connection, timeout: 15_000 });
    try {
      const version = await engine.version();
      return { available: true, detail: `Docker ${version.Version} (API ${version.ApiVersion}) at ${config.endpoint}` };
    } catch (e) {
      return { available: false, detail: `no Docker engine answers at ${config.endpoint} (${(e as Error).message}); start dockerd or set DOCKER_HOST` };
    }
  },
  /** The native libvirt binding (@unraid/libvirt) loads and opens libvirt's in-process test driver. */
  async libvirt() {
    return probeLibvirtUri('test:///default');
  },
  /** qemu:///system answers through the binding, qemu-img runs, and a kernel + busybox can make a guest. */
  async 'libvirt-qemu'() {
    const status = await probeLibvirtUri('qemu:///system');
    if (!status.available) return { ...status, detail: `${status.detail}; start virtlogd -d and libvirtd -d (apt-get install libvirt-daemon-system qemu-system-x86)` };
    if (!tryRun('qemu-img', ['--version'])) return { available: false, detail: 'qemu-img not found (apt-get install qemu-utils)' };
    if (!tryRun('qemu-system-x86_64', ['--version'])) return { available: false, detail: 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)' };
    if (!guestKernel()) return { available: false, detail: 'no guest kernel: /boot/vmlinuz-* missing (apt-get install linux-image-amd64) or set RSP_TEST_GUEST_KERNEL' };
    if (!existsSync(BUSYBOX)) return { available: false, detail: `${BUSYBOX} missing (apt-get install busybox-static)` };
    if (!tryRun('cpio', ['--version'])) return { available: false, detail: 'cpio not found (apt-get install cpio)' };
    return { ...status, detail: `${status.detail}, kernel ${guestKernel()}` };
  },
  /** User-Mode Linux for the UML driver plugin (plugins/uml): linux.uml, uml_mconsole, mke2fs and a busybox for the guest image. */
  async uml() {
    const version = tryRun('linux.uml', ['--version']);
    if (!version) return { available: false, detail: 'linux.uml not found (apt-get install user-mode-linux)' };
    if (!onPath('uml_mconsole')) return { available: false, detail: 'uml_mconsole not found (apt-get install uml-utilities)' };
    if (!onPath('mke2fs')) return { available: false, detail: 'mke2fs not found (apt-get install e2fsprogs)' };
    if (!existsSync(BUSYBOX)) return { available: false, detail: `${BUSYBOX} missing (apt-get install busybox-static)` };
    return { available: true, detail: `linux.uml ${version}` };
  },
  /** Debian's chromium, driven headless by playwright-core in the dashboard's browser test. */
  async chromium() {
    if (!existsSync(CHROMIUM)) return { available: false, detail: `${CHROMIUM} missing (apt-get install chromium)` };
    const version = tryRun(CHROMIUM, ['--headless', '--no-sandbox', '--version']);
    if (!version) return { available: false, detail: `${CHROMIUM} --version failed` };
    return { available: true, detail: `${version} at ${CHROMIUM}` };
  },
};

/** Opens `uri` through the native binding and closes it again. */
async function probeLibvirtUri(uri: string): Promise<EngineStatus> {
  const loaded = await loadBinding();
  if (!loaded.ok) return { available: false, detail: loaded.reason };
  try {
    const conn = await loaded.binding.open(uri);
    await conn.close().catch(() => undefined);
    return { available: true, detail: `${uri} through ${loaded.binding.description}` };
  } catch (e) {
    return { available: false, detail: `${uri} does not answer: ${(e as Error).message}` };
  }
}

function tryRun(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

/**
 * True when `program` is an executable in one of PATH's directories. The global setup loads this
 * file before it builds the packages, so it cannot take the UML plugin's `onPath` (which loads
 * `@rsp/sdk`'s build).
 */
function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return dir !== '';
    } catch {
      return false;
    }
  });
}

const ENV_KEY = 'RSP_TEST_ENGINES';

/** Probes every engine and records the result for the test workers. Returns what it found. */
export async function probeEngines(): Promise<Record<EngineName, EngineStatus>> {
  const entries = await Promise.all(Object.entries(probes).map(async ([name, probe]) => [name, await probe()] as const));
  const found = Object.fromEntries(entries) as Record<EngineName, EngineStatus>;
  process.env[ENV_KEY] = JSON.stringify(found);
  return found;
}

/** The recorded status of one engine. */
export function engineStatus(name: EngineName): EngineStatus {
  const recorded = process.env[ENV_KEY];
  if (!recorded) return { available: false, detail: 'engines were not probed (run the tests through jest with its global setup)' };
  return (JSON.parse(recorded) as Record<EngineName, EngineStatus>)[name] ?? { available: false, detail: 'unknown engine' };
}

/** True when missing engines must fail the run instead of skipping. */
export const MUST_NOT_SKIP = process.env.CI === 'true';

/** `describe` that runs only when `engine` is present; skips saying why, or fails under CI=true. */
export function describeWithEngine(engine: EngineName, title: string, body: () => void): void {
  const status = engineStatus(engine);
  if (status.available) {
    describe(title, body);
  } else if (MUST_NOT_SKIP) {
    describe(title, () => {
      test(`needs ${engine}`, () => {
        throw new Error(`CI=true and ${engine} is missing: ${status.detail}`);
      });
    });
  } else {
    describe.skip(`${title} [skipped: ${engine} missing — ${status.detail}]`, body);
  }
}
