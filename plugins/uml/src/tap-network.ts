import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedBridges, runTool, runToolOk, type ManagedNetwork } from '@rsp/sdk';

/** The TAP device of an environment: `rspu` and 11 hex digits of its id's hash (interface names have at most 15 characters). */
export function tapName(id: string): string {
  return `rspu${createHash('sha256').update(id).digest('hex').slice(0, 11)}`;
}

/**
 * Managed networks for UML guests (feature `managedNetwork`): the network is a Linux bridge made
 * as LXC's are (the SDK's `ManagedBridges`, so both drivers on one host share it), and each
 * running guest gets a TAP device on it, its `eth0` (`eth0=tuntap,<tap>` on the kernel command
 * line), which the guest's init addresses as the spec says. The TAP device lives while the guest
 * runs; the bridge goes with the last environment of the driver that names it.
 */
export class TapNetworks {
  private readonly bridges = new ManagedBridges();

  /** `envsDir`: the driver's environment directories, read to tell whether a bridge is still named by one. */
  constructor(private readonly envsDir: string) {}

  /** Whether guests can get TAP devices here: `/dev/net/tun` and root (CAP_NET_ADMIN); `ip` (iproute2) makes them. */
  static usable(): boolean {
    return process.getuid?.() === 0 && existsSync('/dev/net/tun');
  }

  /** Makes the network's bridge when it is missing (CONFLICT when one exists without the gateway address). */
  async prepare(network: ManagedNetwork, signal?: AbortSignal): Promise<void> {
    await this.bridges.ensure(network, signal);
  }

  /** Makes the guest's TAP device on the network's bridge, up; returns the kernel argument that hands it to the guest. */
  async attach(id: string, network: ManagedNetwork, signal?: AbortSignal): Promise<string> {
    const bridge = await this.bridges.ensure(network, signal);
    const tap = tapName(id);
    await this.detach(id);
    const describe = `making TAP device ${tap} on bridge ${bridge} for UML guest ${id}`;
    await runToolOk('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap'], { signal, describe });
    await runToolOk('ip', ['link', 'set', 'dev', tap, 'master', bridge], { signal, describe });
    await runToolOk('ip', ['link', 'set', 'dev', tap, 'up'], { signal, describe });
    return `eth0=tuntap,${tap}`;
  }

  /** Removes the guest's TAP device (none: nothing to do). */
  async detach(id: string): Promise<void> {
    await runTool('ip', ['link', 'del', 'dev', tapName(id)]).catch(() => undefined);
  }

  /** Removes the network's bridge unless another environment of this driver names it. */
  async release(network: ManagedNetwork): Promise<void> {
    await this.bridges.release(network, async () => {
      for (const id of await readdir(this.envsDir).catch(() => [] as string[])) {
        const text = await readFile(join(this.envsDir, id, 'env.json'), 'utf8').catch(() => '');
        if (text.includes(`"network":${JSON.stringify(network.name)}`)) return true;
      }
      return false;
    });
  }

  /** The guest's network counters: what its TAP device sent is what the guest received. */
  async counters(id: string): Promise<{ networkRxBytes: number; networkTxBytes: number }> {
    const read = (name: string) => readFile(`/sys/class/net/${tapName(id)}/statistics/${name}`, 'utf8').then(Number, () => 0);
    const [tapTx, tapRx] = await Promise.all([read('tx_bytes'), read('rx_bytes')]);
    return { networkRxBytes: tapTx, networkTxBytes: tapRx };
  }
}

