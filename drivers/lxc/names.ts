import { assertEnvironmentId } from '../errors';

/** LXC names RSP's containers `rsp-<environment id>`; the id pattern keeps out separators and metacharacters. */
export const CONTAINER_PREFIX = 'rsp-';

/** The container name of an environment: `<prefix><id>` (prefix `rsp-` unless the instance names another). */
export function containerName(id: string, prefix: string = CONTAINER_PREFIX): string {
  assertEnvironmentId(id);
  return `${prefix}${id}`;
}

export { OWNER_FILE, readOwner, readOwnerOf, writeOwner } from '../host/owner';
export type { OwnerRecord } from '../host/owner';
export { assertBridgeName, assertHostname, assertIpv4, assertSnapshotName } from '../host/validate';
