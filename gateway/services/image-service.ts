import type { Readable } from 'node:stream';
import { DataSource, Repository } from 'typeorm';
import type { ImageStore } from '../artifacts/image-store';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { ImageEntity, ImageSource, ImageVisibility, MemberRole } from '../persistence/entities';

/** The image catalog (seeds 001, 002): read-only root filesystems, tradeable between groups. */
export class ImageService {
  private readonly repo: Repository<ImageEntity>;

  constructor(
    private readonly dataSource: DataSource,
    readonly store: ImageStore,
    /** Bytes each group may keep in the gateway's stores (`RSP_GROUP_STORAGE_BYTES`); undefined: no limit. */
    private readonly groupStorageBytes?: number,
  ) {
    this.repo = dataSource.getRepository(ImageEntity);
  }

  /**
   * Bytes a group keeps in the gateway's own stores: the content of its images and its replicas
   * kept by the gateway (STORE target, one-off copies). Replicas kept on hosts are not counted:
   * they claim the host's DISK against the group's share, as environments do.
   */
  async storageUsed(groupId: string, exceptImageId?: string): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT COALESCE((SELECT SUM("sizeBytes") FROM image WHERE "vendorGroupId" = $1 AND digest IS NOT NULL AND "sizeBytes" IS NOT NULL AND id::text <> $2), 0)
            + COALESCE((SELECT SUM(bytes) FROM replica WHERE "groupId" = $1 AND "storeHostId" IS NULL), 0) AS used`,
      [groupId, exceptImageId ?? ''],
    )) as Array<{ used: string | number }>;
    return Number(row?.used ?? 0);
  }

  /**
   * Stores an image's bits (a root filesystem tarball) and records their digest and size. Images
   * are read-only: bits already stored are a CONFLICT; bits that do not match a declared digest
   * are refused.
   */
  async storeContent(actor: Principal, id: string, content: Readable): Promise<ImageEntity> {
    const image = await this.get(actor, id);
    policy.requireRole(actor, image.vendorGroupId, MemberRole.MEMBER, 'upload the content of this image');
    if (image.digest && this.store.has(image.digest)) throw new ConflictError(`Image ${image.name}:${image.version} already has its content; images are read-only`, { id });
    const stored = await this.store.put(content, { expectedDigest: image.digest, limit: await this.quotaLeft(image.vendorGroupId, image.id) });
    return this.repo.save({ ...image, digest: stored.digest, sizeBytes: stored.sizeBytes });
  }

  /**
   * What the group may still store under its quota, and the CONFLICT (`details.reason:
   * STORAGE_QUOTA`, used and limit bytes) past it; CONFLICT at once when nothing is left.
   */
  private async quotaLeft(groupId: string, imageId: string): Promise<{ bytes: number; error: (size: number) => Error } | undefined> {
    const limit = this.groupStorageBytes;
    if (limit === undefined) return undefined;
    const used = await this.storageUsed(groupId, imageId);
    const error = (size: number) =>
      new ConflictError(`Storage quota of group ${groupId} exceeded: ${used} of ${limit} bytes used (its images and the replicas the gateway keeps)${size > 0 ? `; this upload went past the ${limit - used} bytes left` : ''}`, { reason: 'STORAGE_QUOTA', groupId, usedBytes: used, limitBytes: limit });
    if (used >= limit) throw error(0);
    return { bytes: limit - used, error };
  }

  /** Registers an image in the catalog (its bits are imported through a driver). */
  async register(actor: Principal, input: { vendorGroupId: string; name: string; version: string; technology: string; source: ImageSource; visibility?: ImageVisibility; sharedWith?: string[]; description?: string; digest?: string | null; sizeBytes?: number | null }): Promise<ImageEntity> {
    policy.requireRole(actor, input.vendorGroupId, MemberRole.MEMBER, 'add images for this group');
    if (input.digest != null && !/^sha256:[0-9a-f]{64}$/.test(input.digest)) throw new BadInputError('digest must be sha256:<64 hex digits>', { digest: input.digest });
    if (input.sizeBytes != null && !(input.sizeBytes >= 0)) throw new BadInputError('sizeBytes must be ≥ 0');
    if ((input.sharedWith?.length ?? 0) > 0 && input.visibility !== ImageVisibility.SHARED) throw new BadInputError('sharedWith is only for SHARED images');
    if (await this.repo.existsBy({ vendorGroupId: input.vendorGroupId, name: input.name, version: input.version, technology: input.technology })) {
      throw new ConflictError(`Image ${input.name}:${input.version} (${input.technology}) already exists for this group`, { name: input.name, version: input.version });
    }
    return this.repo.save(this.repo.create({ ...input, readOnly: true }));
  }

  /** Changes who may see an image (its vendor group's members). */
  async setVisibility(actor: Principal, id: string, visibility: ImageVisibility, sharedWith: string[] = []): Promise<ImageEntity> {
    const image = await this.get(actor, id);
    policy.requireRole(actor, image.vendorGroupId, MemberRole.MEMBER, 'change this image');
    if (sharedWith.length && visibility !== ImageVisibility.SHARED) throw new BadInputError('sharedWith is only for SHARED images');
    return this.repo.save({ ...image, visibility, sharedWith });
  }

  /** An image the caller may use, else NOT_FOUND (private images are not revealed). */
  async get(actor: Principal, id: string): Promise<ImageEntity> {
    policy.requireAuthenticated(actor);
    const image = await this.repo.findOneBy({ id });
    if (!image || !policy.canUseImage(actor, image)) throw new NotFoundError('Image', id);
    return image;
  }

  /** The images the caller may see, optionally of one technology. */
  async list(actor: Principal, filter: { technology?: string }): Promise<ImageEntity[]> {
    const p = policy.requireAuthenticated(actor);
    const qb = this.repo.createQueryBuilder('i');
    if (filter.technology) qb.andWhere('i.technology = :t', { t: filter.technology });
    if (!p.siteAdmin) {
      qb.andWhere(`(i.visibility = 'PUBLIC' OR i."vendorGroupId" = :g OR (i.visibility = 'SHARED' AND i."sharedWith" @> :gj::jsonb))`, { g: p.groupId ?? '00000000-0000-0000-0000-000000000000', gj: JSON.stringify([p.groupId ?? '']) });
    }
    return qb.orderBy('i.name', 'ASC').addOrderBy('i.version', 'ASC').getMany();
  }
}
