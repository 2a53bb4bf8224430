import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import type { AgentLink } from '../agent/agent-link';
import type { HostFactsData } from '../agent/host-facts';
import { SYSTEM } from '../auth/principal';
import { ConflictError, fromDatabaseError } from '../errors';
import type { Logger } from '../logging/logger';
import { GroupEntity, HostEntity, ImageEntity, ImageSource, ImageVisibility, ResourceEntity, SiteEntity } from '../persistence/entities';
import type { Services } from '../services';
import { buildBusyboxRootfs, busyboxVersion, DEFAULT_BUSYBOX } from './busybox-rootfs';
import { driverStatuses, type DriverStatus } from './driver-remedies';
import { claimSetup, finishSetup, type SetupNames, type SetupRecord } from './setup-record';

/** The busybox image of one technology, as the set-up left it. */
export interface SetupImage {
  id: string;
  name: string;
  version: string;
  technology: string;
}

/** What the image step did: the images ready, or why there are none. */
export interface SetupImages {
  images: SetupImage[];
  /** Why no image was prepared (no usable driver, no busybox binary, turned off). */
  skipped?: string;
}

/** What a start's set-up found or did. */
export interface SetupOutcome {
  /** True when this start created or completed the set-up. */
  ran: boolean;
  /** Why it did nothing, when it did not run. */
  reason?: string;
  record: SetupRecord | null;
  group?: GroupEntity;
  site?: SiteEntity;
  host?: HostEntity;
  resources: ResourceEntity[];
  /** The in-process agent's drivers: usable ones, and for each other the reason and remedy. */
  drivers: DriverStatus[];
  /** The busybox images, prepared in the background (settles once they are ready or skipped; never rejects). */
  images: Promise<SetupImages>;
}

/** What the set-up works with. */
export interface MachineSetupDeps {
  dataSource: DataSource;
  services: Services;
  agents: AgentLink;
  /** Where the busybox root filesystem is built (`<RSP_DATA_DIR>/setup`). */
  workDir: string;
  logger: Logger;
  /** The static busybox binary the image is made of (default `/bin/busybox`). */
  busybox?: string;
}

/** The names a set-up uses when none are given: an `admin` group, site and host named after the machine. */
export function defaultSetupNames(site: string, host: string): SetupNames {
  return { group: 'admin', site, host, image: true };
}

/**
 * Sets this machine up on the first start of an empty database, as `nomad agent -dev` or `incus
 * admin init --minimal` do: an admin group, a site owned by it, this machine as a host of the
 * in-process agent with its technologies and resources filled from the agent's facts, and a
 * busybox image for each usable technology (built in the background from the machine's static
 * busybox, no network needed). Every step goes through the services (their rules, their inventory
 * changes) and finds what an earlier, cut-short run made before making it, so a second start
 * changes nothing and a failed one is completed by the next.
 */
export class MachineSetup {
  constructor(private readonly deps: MachineSetupDeps) {}

  /** Sets the machine up when this start should (see `claimSetup`); reports what it found or did. */
  async run(names: SetupNames): Promise<SetupOutcome> {
    const facts = await this.facts();
    const drivers = driverStatuses(facts?.drivers ?? []);
    const claim = await claimSetup(this.deps.dataSource, names);
    if (!claim.run) return { ran: false, reason: claim.reason, record: claim.record, resources: [], drivers, images: Promise.resolve({ images: [], skipped: claim.reason }) };
    const record = claim.record;
    const log = this.deps.logger.child({ setup: 'first-start' });
    log.info({ group: record.group, site: record.site, host: record.host }, 'first start: setting up this machine');
    const group = await this.group(record.group);
    const site = await this.site(record.site, group);
    const host = await this.host(record.host, site, group, facts);
    const resources = await this.deps.services.resources.ofHost(host.id);
    log.info({ host: host.hostname, drivers: host.drivers, resources: resources.map((r) => `${r.type}=${r.total}`) }, 'first start: this machine is a host');
    const images = (async (): Promise<SetupImages> => {
      try {
        const prepared = record.image ? await this.images(group, host, log) : { images: [], skipped: 'turned off' };
        await finishSetup(this.deps.dataSource, record);
        log.info('first start: done');
        return prepared;
      } catch (e) {
        log.warn({ err: e }, 'first start: the busybox image could not be prepared; the next start tries again');
        return { images: [], skipped: `failed: ${(e as Error).message}` };
      }
    })();
    return { ran: true, record, group, site, host, resources, drivers, images };
  }

  /** The in-process agent's facts, or undefined when it is not connected. */
  private async facts(): Promise<HostFactsData | undefined> {
    return this.deps.agents.get(this.deps.agents.localId)?.hostFacts();
  }

  private async group(name: string): Promise<GroupEntity> {
    const slug = slugOf(name);
    const repo = this.deps.dataSource.getRepository(GroupEntity);
    return (await repo.findOneBy({ slug })) ?? orFound(this.deps.services.groups.create(SYSTEM, { slug, name, description: 'Administers this site (made at the first start)' }), () => repo.findOneByOrFail({ slug }));
  }

  private async site(name: string, owner: GroupEntity): Promise<SiteEntity> {
    const repo = this.deps.dataSource.getRepository(SiteEntity);
    return (await repo.findOneBy({ name })) ?? orFound(this.deps.services.sites.createSite(SYSTEM, { name, ownerGroupId: owner.id }), () => repo.findOneByOrFail({ name }));
  }

  private async host(hostname: string, site: SiteEntity, owner: GroupEntity, facts: HostFactsData | undefined): Promise<HostEntity> {
    const repo = this.deps.dataSource.getRepository(HostEntity);
    const existing = await repo.findOneBy({ siteId: site.id, hostname });
    if (existing) {
      // Made by a start cut short before its facts were recorded: record them now.
      if (!existing.facts) await this.deps.services.hostFacts.refreshAgent(existing.agent, [existing.id]);
      return repo.findOneByOrFail({ id: existing.id });
    }
    const input = { siteId: site.id, ownerGroupId: owner.id, hostname, agent: this.deps.agents.localId, inventoryFromFacts: true, ...(facts ? { arch: machineArch(facts.arch) } : {}) };
    return orFound(this.deps.services.hostFacts.createHost(SYSTEM, input), () => repo.findOneByOrFail({ siteId: site.id, hostname }));
  }

  /** A busybox image for each usable technology of the host, its content built once and stored in the gateway's image store. */
  private async images(group: GroupEntity, host: HostEntity, log: Logger): Promise<SetupImages> {
    const busybox = this.deps.busybox ?? DEFAULT_BUSYBOX;
    if (!host.drivers.length) return { images: [], skipped: 'no usable driver on this machine: nothing could run it' };
    if (!existsSync(busybox)) return { images: [], skipped: `${busybox} is missing — install busybox-static (apt-get install busybox-static)` };
    const version = await busyboxVersion(busybox);
    const repo = this.deps.dataSource.getRepository(ImageEntity);
    let tar: string | undefined;
    const images: SetupImage[] = [];
    for (const technology of host.drivers) {
      const key = { vendorGroupId: group.id, name: 'busybox', version, technology };
      const image =
        (await repo.findOneBy(key)) ??
        (await orFound(
          this.deps.services.images.register(SYSTEM, { ...key, source: ImageSource.READY, visibility: ImageVisibility.PUBLIC, description: `BusyBox ${version} from this machine's ${busybox} (made at the first start)` }),
          () => repo.findOneByOrFail(key),
        ));
      if (!image.digest) {
        if (!tar) {
          log.info({ busybox }, 'first start: building the busybox root filesystem');
          tar = await buildBusyboxRootfs({ busybox, out: join(this.deps.workDir, 'busybox-rootfs.tar') });
        }
        log.info({ image: image.id, technology }, 'first start: storing the busybox image');
        await this.deps.services.images.storeContent(SYSTEM, image.id, createReadStream(tar));
      }
      images.push({ id: image.id, name: image.name, version: image.version, technology });
    }
    log.info({ images: images.map((i) => `${i.name}:${i.version} (${i.technology})`) }, 'first start: busybox image ready');
    return { images };
  }
}

/** What `made` resolves to, or when another start made it first (CONFLICT), what `find` reads. */
async function orFound<T>(made: Promise<T>, find: () => Promise<T>): Promise<T> {
  try {
    return await made;
  } catch (e) {
    if (e instanceof ConflictError || fromDatabaseError(e) instanceof ConflictError) return find();
    throw e;
  }
}

/** A group slug from a name: lower case, runs of other characters as one dash. */
export function slugOf(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'admin'
  );
}

/** The architecture's usual name (`x86_64`, `aarch64`…) from Node's (`x64`, `arm64`…). */
export function machineArch(nodeArch: string): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[nodeArch] ?? nodeArch;
}
