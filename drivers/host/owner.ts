import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRef, PortSpec, VolumeSpec } from '../contract';
import type { ManagedNetwork } from './managed-network';

/** The file that marks a container directory as RSP's and keeps what LXC's config cannot. */
export const OWNER_FILE = 'rsp.json';

/** What RSP records next to a container's config. */
export interface OwnerRecord {
  environment: string;
  image: ImageRef;
  labels: Record<string, string>;
  hostname: string;
  createdAt: string;
  /** The volumes mounted from outside the root filesystem (an export carries their content). */
  volumes?: VolumeSpec[];
  /** The managed network it is attached to (its bridge is made again at start when missing). */
  network?: ManagedNetwork;
  /** Its bandwidth cap, bits/s (shaped on the host's side of its veth while it runs). */
  networkBitsPerSecond?: number;
  /** Host ports published to it (forwarded while it runs). */
  ports?: PortSpec[];
  /** Set at the first start: a never-started container is `created`, else `stopped`. */
  startedAt?: string;
  /** The installation or agent that made it (the driver's `owner` option); absent: made before owners existed, everyone's. */
  owner?: string;
}

/** The record, when it is RSP's and of `owner` or of none (made before owners existed); undefined otherwise. */
export async function readOwnerOf(containerDir: string, owner: string | undefined): Promise<OwnerRecord | undefined> {
  const record = await readOwner(containerDir);
  return record && (record.owner === undefined || record.owner === owner) ? record : undefined;
}

export async function readOwner(containerDir: string): Promise<OwnerRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(containerDir, OWNER_FILE), 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

export async function writeOwner(containerDir: string, record: OwnerRecord): Promise<void> {
  await writeFile(join(containerDir, OWNER_FILE), `${JSON.stringify(record, null, 2)}\n`);
}
