import { assertEnvironmentId } from '../errors';

/** LXC names RSP's containers `rsp-<environment id>`; the id pattern keeps out separators and metacharacters. */
export const CONTAINER_PREFIX = 'rsp-';

export function containerName(id: string): string {
  assertEnvironmentId(id);
  return `${CONTAINER_PREFIX}${id}`;
}

export { OWNER_FILE, readOwner, writeOwner } from '../host/owner';
export type { OwnerRecord } from '../host/owner';
export { assertBridgeName, assertHostname, assertIpv4, assertSnapshotName } from '../host/validate';
