import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { managedNetworkOf, type EnvironmentSpec, type ExecResult } from '@rsp/sdk';

/** Where the driver's files sit inside the guest's root filesystem. */
export const GUEST_DIR = '/.rsp';

/**
 * The guest's init (`/.rsp/init`, added to every base image). It mounts the environment's host
 * directory through hostfs (its path comes as `rsp_host=` on the kernel command line, which the
 * kernel hands to init as an environment variable), applies the host↔image interface (hostname,
 * network, DNS, `/etc/rsp/config.env`, volumes), starts the command, says `ready`, and then serves `exec`
 * requests the host drops into `exec/` (a request is a script, its stdin, and a `.req` marker; the
 * answer is `.out`, `.err` and `.rc`). Needs `/bin/sh` and the usual tools (mount, hostname, sleep).
 */
export const INIT_SCRIPT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
H=${GUEST_DIR}/host
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t hostfs none "$H" -o "$rsp_host" || { echo "rsp: cannot mount the host directory $rsp_host"; poweroff -f; }
hostname "$(cat "$H/hostname")"
[ -s "$H/net.sh" ] && . "$H/net.sh"
[ -s "$H/resolv.conf" ] && cat "$H/resolv.conf" > /etc/resolv.conf
mkdir -p /etc/rsp && cat "$H/config.env" > /etc/rsp/config.env
set -a; . "$H/config.env"; set +a
. "$H/mounts.sh"
[ -s "$H/command.sh" ] && sh "$H/command.sh" < /dev/null > /dev/console 2>&1 &
mkdir -p "$H/exec"
echo ready > "$H/ready"
while :; do
  for r in "$H"/exec/*.req; do
    [ -e "$r" ] || continue
    n=\${r%.req}
    rm -f "$r"
    ( sh "$n.sh" < "$n.in" > "$n.out" 2> "$n.err"; echo $? > "$n.tmp"; mv "$n.tmp" "$n.rc" ) &
  done
  sleep 0.2
done
`;

/** Quotes one word for the guest's /bin/sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes what the guest reads at boot into its host directory: hostname, the network (loopback,
 * and on a managed network `eth0` with the spec's address and a default route through its
 * gateway; with an IPv6 side also its IPv6 address, without duplicate address detection, and
 * IPv6 default route, after loading `ipv6Modules` — the UML kernel's ipv6 module and what it needs,
 * copied into `modules/` — unless the kernel has IPv6 already), resolv.conf, config.env
 * (KEY='VALUE' lines, so they can be sourced), the volume mounts and the command.
 */
export async function writeGuestConfig(hostDir: string, spec: EnvironmentSpec, ipv6Modules: string[] = []): Promise<void> {
  await mkdir(join(hostDir, 'exec'), { recursive: true });
  const config = Object.entries(spec.iface.config ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}\n`).join('');
  const dns = (spec.iface.dns ?? []).map((server) => `nameserver ${server}\n`).join('');
  const mounts = (spec.volumes ?? [])
    .map((v) => `mkdir -p ${shellQuote(v.mountPath)} && mount -t hostfs none ${shellQuote(v.mountPath)} -o ${shellQuote(v.hostPath)}${v.readOnly ? ` && mount -o remount,ro ${shellQuote(v.mountPath)}` : ''}\n`)
    .join('');
  const managed = managedNetworkOf(spec.iface.network);
  const network = ['ip link set lo up', ...(managed ? [`ip addr add ${shellQuote(spec.iface.network!.ipv4!)} dev eth0`, 'ip link set eth0 up', `ip route add default via ${shellQuote(managed.gateway)}`] : [])];
  if (managed?.ipv6) {
    await mkdir(join(hostDir, 'modules'), { recursive: true });
    for (const file of ipv6Modules) await copyFile(file, join(hostDir, 'modules', basename(file)));
    const load = ipv6Modules.map((file) => `insmod "$H/modules/${basename(file)}"`).join('; ');
    network.push(
      ...(load ? [`[ -e /proc/net/if_inet6 ] || { ${load}; }`] : []),
      'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad',
      `ip -6 addr add ${shellQuote(`${managed.ipv6.address}/64`)} dev eth0`,
      `ip -6 route add default via ${shellQuote(managed.ipv6.gateway)} dev eth0`,
    );
  }
  const command = spec.command?.length ? `exec ${spec.command.map(shellQuote).join(' ')}\n` : '';
  await writeFile(join(hostDir, 'hostname'), `${spec.iface.hostname}\n`);
  await writeFile(join(hostDir, 'net.sh'), `${network.join('\n')}\n`);
  await writeFile(join(hostDir, 'resolv.conf'), dns);
  await writeFile(join(hostDir, 'config.env'), config);
  await writeFile(join(hostDir, 'mounts.sh'), mounts);
  await writeFile(join(hostDir, 'command.sh'), command);
}

/**
 * Runs `command` in the guest through the exec directory and waits for its exit code, polling
 * every 50 ms until `signal` aborts (the caller's deadline). The request's files are removed after.
 */
export async function guestExec(hostDir: string, command: string[], stdin: string, signal: AbortSignal, alive: () => Promise<boolean>): Promise<ExecResult> {
  const base = join(hostDir, 'exec', randomBytes(6).toString('hex'));
  const files = ['sh', 'in', 'out', 'err', 'rc', 'tmp', 'req'].map((ext) => `${base}.${ext}`);
  try {
    await writeFile(`${base}.sh`, `exec ${command.map(shellQuote).join(' ')}\n`);
    await writeFile(`${base}.in`, stdin);
    await writeFile(`${base}.req`, '');
    for (let polls = 0; ; polls++) {
      const rc = await readFile(`${base}.rc`, 'utf8').catch(() => undefined);
      if (rc !== undefined && rc.trim() !== '') {
        const [stdout, stderr] = await Promise.all([readFile(`${base}.out`, 'utf8'), readFile(`${base}.err`, 'utf8')]);
        return { exitCode: Number(rc.trim()), stdout, stderr };
      }
      if (signal.aborted) throw signal.reason;
      if (polls % 20 === 19 && !(await alive())) throw new Error('the guest stopped while the command ran');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }
}
