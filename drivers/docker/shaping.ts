import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnsupportedOperationError } from '../errors';
import { runTool } from '../host/run-tool';
import { shapedInterfaces, VethShaping } from '../host/shaping';

/** The network modes that give a container no veth of its own on the host: nothing there to shape. */
const WITHOUT_VETH = /^(none|host|container:.*)$/;

/** The file in the environment's state directory holding its current bandwidth cap (bits per second), once resized. */
const CAP_FILE = 'network-bits-per-second';

/** The reason a container in network mode `mode` cannot have its bandwidth capped, or undefined when it can. */
export function unshapeableReason(mode: string): string | undefined {
  if (!WITHOUT_VETH.test(mode)) return undefined;
  return mode === 'none'
    ? 'network mode none gives the container no veth (only loopback): there is no traffic to cap'
    : `network mode ${mode} shares another network namespace's interfaces: there is no veth of the container's own to cap`;
}

/**
 * The host-side end of a running container's veth: the interface index its first veth inside
 * (`ip -o link show type veth` in the container's network namespace, through `nsenter`) names as
 * its peer (`eth0@ifN`), looked up among the host's interfaces. Undefined when it has none.
 */
export async function hostVethOf(pid: number, signal?: AbortSignal): Promise<string | undefined> {
  const inside = await runTool('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'type', 'veth'], { signal });
  const peer = /^\d+:\s+[^@:\s]+@if(\d+):/m.exec(inside.stdout)?.[1];
  if (inside.exitCode !== 0 || !peer) return undefined;
  const host = await runTool('ip', ['-o', 'link', 'show'], { signal });
  return new RegExp(`^${peer}:\\s+([^@:\\s]+)[@:]`, 'm').exec(host.stdout)?.[1];
}

/**
 * Bandwidth caps of Docker containers: the SDK's `VethShaping` on the host's end of the
 * container's veth (Docker names it; found by `hostVethOf`) and an ifb named after the container.
 * The cap asked at create rides in the container's spec label; a resize writes the current one to
 * the environment's state directory, which wins.
 */
export class DockerShaping {
  private readonly shaping = new VethShaping();

  constructor(private readonly stateDir: string) {}

  /** The cap in force for environment `id`: the one last resized to, else the one asked at create. */
  async capOf(id: string, created: number | undefined): Promise<number | undefined> {
    const text = await readFile(join(this.stateDir, id, CAP_FILE), 'utf8').catch(() => undefined);
    const resized = text === undefined ? NaN : Number(text.trim());
    return Number.isFinite(resized) && resized > 0 ? resized : created;
  }

  /** Records `bitsPerSecond` as environment `id`'s cap from now on. */
  async record(id: string, bitsPerSecond: number): Promise<void> {
    await writeFile(join(this.stateDir, id, CAP_FILE), `${Math.round(bitsPerSecond)}\n`, { mode: 0o644 });
  }

  /**
   * Applies the cap to a running container (process `pid`, named `container`, in network mode
   * `mode`); UNSUPPORTED_OPERATION with the reason when it has no veth to shape or the kernel
   * refuses.
   */
  async apply(container: string, pid: number, mode: string, bitsPerSecond: number, signal?: AbortSignal): Promise<void> {
    const reason = unshapeableReason(mode);
    if (reason) throw new UnsupportedOperationError('networkBitsPerSecond', `container ${container}`, reason);
    const veth = await hostVethOf(pid, signal);
    if (!veth) throw new UnsupportedOperationError('networkBitsPerSecond', `container ${container}`, `no veth found in its network namespace (process ${pid}, network mode ${mode})`);
    await this.shaping.apply({ veth, ifb: shapedInterfaces(container).ifb }, bitsPerSecond, signal);
  }

  /**
   * Removes the cap of `container`: its ifb, and the qdiscs of its veth while it still runs (process
   * `pid`). Without its ifb a container has no cap in place (a cap is its ifb and the veth's qdiscs,
   * made and removed together): nothing is run then, so stopping and destroying uncapped containers
   * starts no `nsenter` or `ip`.
   */
  async remove(container: string, pid?: number): Promise<void> {
    const { ifb } = shapedInterfaces(container);
    if (!existsSync(`/sys/class/net/${ifb}`)) return;
    const veth = pid ? await hostVethOf(pid).catch(() => undefined) : undefined;
    if (veth) await this.shaping.remove({ veth, ifb });
    else await runTool('ip', ['link', 'del', 'dev', ifb]);
  }
}
