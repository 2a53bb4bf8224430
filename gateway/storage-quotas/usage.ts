import type { EntityManager } from 'typeorm';

/** What a group keeps in the gateway's own stores, in bytes. */
export interface StorageUsage {
  /** The content of its images (those with stored bits). */
  imageBytes: number;
  /** Its replicas kept in the gateway's store (STORE target, one-off copies; not those kept at another site). */
  replicaBytes: number;
  /** Held by transfers in progress (uploads, replicas being copied in). */
  reservedBytes: number;
}

/** Everything that counts against the quota. */
export function usedBytes(usage: StorageUsage): number {
  return usage.imageBytes + usage.replicaBytes + usage.reservedBytes;
}

/**
 * A group's usage, read in one statement (one snapshot: a transfer that records what it stored and
 * drops its reservation in one transaction is counted once, never twice or not at all). Replicas
 * kept on hosts are not counted: they claim the host's DISK against the group's share, as
 * environments do. `exceptImageId`: an image whose declared size is left out (the one being uploaded).
 */
export async function storageUsage(m: EntityManager, groupId: string, exceptImageId?: string): Promise<StorageUsage> {
  const [row] = (await m.query(
    `SELECT COALESCE((SELECT SUM("sizeBytes") FROM image WHERE "vendorGroupId" = $1 AND digest IS NOT NULL AND "sizeBytes" IS NOT NULL AND id::text <> $2), 0) AS images,
            COALESCE((SELECT SUM(bytes) FROM replica WHERE "groupId" = $1 AND "storeHostId" IS NULL AND "peerSite" IS NULL), 0) AS replicas,
            COALESCE((SELECT SUM(bytes) FROM storage_reservation WHERE "groupId" = $1), 0) AS reserved`,
    [groupId, exceptImageId ?? ''],
  )) as Array<{ images: string | number; replicas: string | number; reserved: string | number }>;
  return { imageBytes: Number(row?.images ?? 0), replicaBytes: Number(row?.replicas ?? 0), reservedBytes: Number(row?.reserved ?? 0) };
}
