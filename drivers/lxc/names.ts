import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../../gateway/errors/rsp-error';
import type { ImageRef } from '../contract';
import { assertEnvironmentId } from '../errors';

/** LXC names RSP's containers `rsp-<environment id>`; the id pattern keeps out separators and metacharacters. */
export const CONTAINER_PREFIX = 'rsp-';

export function containerName(id: string): string {
  assertEnvironmentId(id);
  return `${CONTAINER_PREFIX}${id}`;
}

/** The file that marks a container directory as RSP's and keeps what LXC's config cannot. */
export const OWNER_FILE = 'rsp.json';

/** What RSP records next to a container's config. */
export interface OwnerRecord {
  environment: string;
  image: ImageRef;
  labels: Record<string, string>;
  hostname: string;
  createdAt: string;
  /** Set at the first start: a never-started container is `created`, else `stopped`. */
  startedAt?: string;
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

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;
const SNAPSHOT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function assertHostname(hostname: string): void {
  if (!HOSTNAME.test(hostname)) throw new BadInputError(`"${hostname}" is not a valid hostname`, { hostname });
}

export function assertIpv4(address: string, withPrefix: boolean): void {
  const [ip, prefix, ...rest] = address.split('/');
  const ok = IPV4.test(ip ?? '') && rest.length === 0 && (withPrefix ? prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= 32) : prefix === undefined);
  if (!ok) throw new BadInputError(`"${address}" is not a valid IPv4 address${withPrefix ? ' (with optional /prefix)' : ''}`, { address });
}

export function assertBridgeName(bridge: string): void {
  if (!BRIDGE.test(bridge)) throw new BadInputError(`"${bridge}" is not a valid bridge name`, { bridge });
}

export function assertSnapshotName(name: string): void {
  if (!SNAPSHOT.test(name)) throw new BadInputError(`"${name}" is not a valid snapshot name: use a-z, 0-9, _ and -`, { snapshot: name });
}
