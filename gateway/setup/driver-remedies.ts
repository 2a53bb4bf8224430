import type { DriverFact } from '../agent/host-facts';

/**
 * What makes each built-in driver usable on a Debian or Ubuntu machine: the packages to install
 * and what to start or run, beside the probe's reason (which says what is wrong).
 */
export const DRIVER_REMEDIES: Readonly<Record<string, string>> = {
  docker: 'install docker.io (apt-get install docker.io) and start dockerd (systemctl start docker); the gateway needs access to /var/run/docker.sock (root or the docker group)',
  lxc: 'install lxc (apt-get install lxc) and run the gateway as root',
  libvirt: 'install libvirt-daemon-system, qemu-system and libvirt-dev (apt-get install libvirt-daemon-system qemu-system libvirt-dev), start libvirtd (systemctl start libvirtd), then npm rebuild in this checkout',
  vserver: 'install util-vserver on a Linux-VServer kernel and run the gateway as root',
};

/** One driver for people: usable with its version, or why not and what would make it usable. */
export interface DriverStatus {
  name: string;
  technology: string;
  available: boolean;
  version?: string;
  reason?: string;
  /** The package or command that would make it available (unusable drivers with a known remedy). */
  remedy?: string;
}

/** The status of each probed driver, with the remedy of each unusable one. */
export function driverStatuses(drivers: readonly DriverFact[]): DriverStatus[] {
  return drivers.map((d) => ({
    name: d.name,
    technology: d.technology,
    available: d.available,
    ...(d.version ? { version: d.version } : {}),
    ...(!d.available ? { reason: d.reason ?? 'its probe gave no reason' } : {}),
    ...(!d.available && DRIVER_REMEDIES[d.name] ? { remedy: DRIVER_REMEDIES[d.name] } : {}),
  }));
}

/** The statuses as lines: the usable drivers, then each unusable one with its reason and remedy. */
export function driverLines(statuses: readonly DriverStatus[]): string[] {
  const usable = statuses.filter((s) => s.available);
  const lines = [`Usable drivers: ${usable.length ? usable.map((s) => `${s.name}${s.version ? ` (${s.version})` : ''}`).join(', ') : 'none — environments cannot run on this machine yet'}`];
  for (const s of statuses.filter((x) => !x.available)) lines.push(`  ${s.name}: ${s.reason}${s.remedy ? ` — ${s.remedy}` : ''}`);
  return lines;
}
