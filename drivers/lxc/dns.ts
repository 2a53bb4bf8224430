import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyedQueue } from '../host/keyed-queue';
import type { ManagedNetwork } from '../host/managed-network';
import { readOwner } from '../host/owner';
import { runToolOk } from '../host/run-tool';
import { bridgeName } from '../host/bridges';

/** Where the name servers of managed bridges keep their hosts file and pid file: `<dir>/<bridge>/`. */
export const DEFAULT_DNS_DIR = '/run/rsp-lxc-dns';

/**
 * Names on LXC's managed networks: one `dnsmasq` per bridge, listening on the bridge's gateway
 * address only, answering the hostnames of the containers on that network from a hosts file RSP
 * writes (`<address> <hostname>` per container of the driver's directory whose owner record names
 * the network) and forwarding other names with a dot in them to the host's resolvers. Containers
 * get the gateway as their name server unless they asked for others. Calls on one bridge run one
 * after another.
 */
export class BridgeNames {
  private readonly queue = new KeyedQueue();

  constructor(
    private readonly dnsmasq = 'dnsmasq',
    private readonly dir = DEFAULT_DNS_DIR,
  ) {}

  /**
   * Writes the network's hosts file from the containers under `lxcPath` and has its dnsmasq read it
   * (started when not running, else sent SIGHUP); with no container left, stops it and removes its files.
   */
  refresh(network: ManagedNetwork, lxcPath: string, signal?: AbortSignal): Promise<void> {
    const bridge = bridgeName(network.name);
    return this.queue.run(bridge, async () => {
      const dir = join(this.dir, bridge);
      const hosts = join(dir, 'hosts');
      const entries = await hostEntries(network.name, lxcPath);
      const running = await this.running(dir, hosts);
      if (!entries.length) {
        if (running) process.kill(running, 'SIGTERM');
        await rm(dir, { recursive: true, force: true });
        return;
      }
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(this.dir, 0o755);
      await chmod(dir, 0o755);
      await writeFile(`${hosts}.new`, entries.map((e) => `${e.address}\t${e.hostname}\n`).join(''), { mode: 0o644 });
      await rename(`${hosts}.new`, hosts);
      if (running) {
        process.kill(running, 'SIGHUP');
        return;
      }
      await runToolOk(
        this.dnsmasq,
        ['--conf-file=/dev/null', `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--listen-address=${network.gateway}`, '--bind-interfaces', '--no-hosts', `--addn-hosts=${hosts}`, '--domain-needed', '--cache-size=0'],
        { signal, describe: `starting the name server of bridge ${bridge} (network ${network.name})` },
      );
    });
  }

  /** The pid of the bridge's dnsmasq when it runs (read from its pid file, checked to be that dnsmasq). */
  private async running(dir: string, hosts: string): Promise<number | undefined> {
    const pid = Number((await readFile(join(dir, 'dnsmasq.pid'), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return cmdline.includes(`--addn-hosts=${hosts}`) ? pid : undefined;
  }
}

/** Address and hostname of every container under `lxcPath` whose owner record names the network. */
async function hostEntries(network: string, lxcPath: string): Promise<Array<{ address: string; hostname: string }>> {
  const entries: Array<{ address: string; hostname: string }> = [];
  for (const entry of (await readdir(lxcPath).catch(() => [] as string[])).sort()) {
    const owner = await readOwner(join(lxcPath, entry));
    if (owner?.network?.name === network) entries.push({ address: owner.network.address, hostname: owner.hostname });
  }
  return entries;
}
