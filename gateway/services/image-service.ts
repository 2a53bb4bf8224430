import type { Readable } from 'node:stream';
import { DataSource, Repository } from 'typeorm';
import { DEFAULT_IMAGE_FORMATS, type ImageFormat } from '../../drivers/contract';
import type { DriverFact } from '../agent/host-facts';
import { imageFormatOf, lookalikeOf, matchesImageFormats, readImageHead } from '../artifacts/image-format';
import type { ImageStore } from '../artifacts/image-store';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, NotFoundError } from '../errors';
import { HostEntity, ImageEntity, ImageSource, ImageVisibility, MemberRole } from '../persistence/entities';
import { EntityStatements } from '../persistence/entity-statements';
import type { StorageQuotas } from '../storage-quotas/storage-quotas';
import { requireGroupRoom } from '../limits/group-records';

/** The image catalog (seeds 001, 002): read-only root filesystems, tradeable between groups. */
export class ImageService {
  private readonly repo: Repository<ImageEntity>;
  /** Images read by id (every environment's create) without the query builder's cost per call. */
  private readonly rows: EntityStatements<ImageEntity>;

  constructor(
    private readonly dataSource: DataSource,
    readonly store: ImageStore,
    /** The groups' storage quotas the bits are reserved against. */
    private readonly quotas: StorageQuotas,
  ) {
    this.repo = dataSource.getRepository(ImageEntity);
    this.rows = new EntityStatements(dataSource, ImageEntity);
  }

  /**
   * Stores an image's bits (a root filesystem tarball) and records their digest, size and format (`imageFormatOf`). Images
   * are read-only: bits already stored are a CONFLICT; bits that do not match a declared digest
   * are refused, and so are bits whose start is of none of the image formats its technology's
   * drivers take (`formatsFor`): BAD_USER_INPUT with `details.reason: IMAGE_FORMAT`, read no further. The bits are reserved against the group's storage quota before they are written:
   * their announced size at once (`expectedBytes`, the body's length, else the size the image was
   * registered with), the rest as they arrive. Past it, a CONFLICT with `details.reason:
   * STORAGE_QUOTA`, and nothing is kept.
   */
  async storeContent(actor: Principal, id: string, content: Readable, expectedBytes?: number): Promise<ImageEntity> {
    const image = await this.get(actor, id);
    policy.requireRole(actor, image.vendorGroupId, MemberRole.MEMBER, 'upload the content of this image');
    if (this.hasContent(image)) throw new ConflictError(`Image ${image.name}:${image.version} already has its content; images are read-only`, { id });
    const { head, whole } = await readImageHead(content);
    let format: string | null = null;
    if (head.length) {
      const formats = await this.formatsFor(image.technology);
      if (!matchesImageFormats(head, formats)) {
        content.destroy();
        throw imageFormatError(image.technology, formats, lookalikeOf(head));
      }
      format = imageFormatOf(head, formats);
    }
    content = whole;
    const room = await this.quotas.reserve(image.vendorGroupId, expectedBytes ?? image.sizeBytes ?? 0, `the upload of image ${image.name}:${image.version}`, image.id);
    try {
      const stored = await this.store.put(content, { expectedDigest: image.digest, room });
      try {
        return await this.dataSource.transaction(async (m) => {
          const saved = await m.getRepository(ImageEntity).save({ ...image, digest: stored.digest, sizeBytes: stored.sizeBytes, format, contentProven: true });
          await room.settleWithin(m);
          return saved;
        });
      } catch (e) {
        // Unrecorded bits are not kept, unless another image has the same content.
        if (!(await this.repo.existsBy({ digest: stored.digest, contentProven: true }).catch(() => true))) await this.store.remove(stored.digest);
        throw e;
      }
    } finally {
      await room.release();
    }
  }

  /**
   * The image formats the drivers of `technology` take, as the hosts' agents reported them (each
   * driver's `imageFormats`, `DEFAULT_IMAGE_FORMATS` when it declares none, and when no host
   * reported a driver of that technology).
   */
  async formatsFor(technology: string): Promise<ImageFormat[]> {
    const rows: { drivers: DriverFact[] | null }[] = await this.dataSource.createQueryBuilder().select(`h.facts->'drivers'`, 'drivers').from(HostEntity, 'h').getRawMany();
    const drivers = rows.flatMap((r) => (Array.isArray(r.drivers) ? r.drivers : [])).filter((d) => d.technology === technology);
    if (!drivers.length) return [...DEFAULT_IMAGE_FORMATS];
    return [...new Set(drivers.flatMap((d) => (d.imageFormats?.length ? d.imageFormats : DEFAULT_IMAGE_FORMATS)))];
  }

  /**
   * The bits of an image of `digest` the caller may use, for another site that lacks them (see
   * `ImageImport`); NOT_FOUND when the caller may use no image of that digest or its bits are not stored.
   */
  async openContent(actor: Principal, digest: string): Promise<{ stream: Readable; sizeBytes: number | null }> {
    policy.requireAuthenticated(actor);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new BadInputError('digest must be sha256:<64 hex digits>', { digest });
    const image = (await this.repo.findBy({ digest })).find((i) => i.contentProven && policy.canUseImage(actor, i));
    if (!image || !this.store.has(digest)) throw new NotFoundError('Image content', digest);
    return { stream: await this.store.open(digest), sizeBytes: image.sizeBytes };
  }

  /**
   * Registers an image in the catalog; its bits come with an upload (`storeContent`). A declared
   * `digest` is what the upload must match; it gives the image the bits stored of that digest only
   * when the caller may already use an image that has them (or, `proven`, a peer site listing the
   * image gave the group its right to them): a digest alone is no proof of holding the bits, so
   * another group's private image stays its own, and whether its bits are here is not told.
   */
  async register(actor: Principal, input: { vendorGroupId: string; name: string; version: string; technology: string; source: ImageSource; visibility?: ImageVisibility; sharedWith?: string[]; description?: string; digest?: string | null; sizeBytes?: number | null }, proven = false): Promise<ImageEntity> {
    policy.requireRole(actor, input.vendorGroupId, MemberRole.MEMBER, 'add images for this group');
    if (input.digest != null && !/^sha256:[0-9a-f]{64}$/.test(input.digest)) throw new BadInputError('digest must be sha256:<64 hex digits>', { digest: input.digest });
    if (input.sizeBytes != null && !(input.sizeBytes >= 0)) throw new BadInputError('sizeBytes must be ≥ 0');
    if ((input.sharedWith?.length ?? 0) > 0 && input.visibility !== ImageVisibility.SHARED) throw new BadInputError('sharedWith is only for SHARED images');
    checkSharedWith(input.sharedWith ?? []);
    const sameBits = input.digest != null ? await this.repo.findBy({ digest: input.digest }) : [];
    const contentProven = proven || sameBits.some((i) => i.contentProven && policy.canUseImage(actor, i));
    const format = contentProven ? formatAmong(sameBits) : null;
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ImageEntity);
      await requireGroupRoom(repo, { vendorGroupId: input.vendorGroupId }, input.vendorGroupId, 'images');
      if (await repo.existsBy({ vendorGroupId: input.vendorGroupId, name: input.name, version: input.version, technology: input.technology })) {
        throw new ConflictError(`Image ${input.name}:${input.version} (${input.technology}) already exists for this group`, { name: input.name, version: input.version });
      }
      return repo.save(repo.create({ ...input, readOnly: true, contentProven, format }));
    });
  }

  /** The format of the bits of `digest` as an image of them recorded it; null when none did. */
  async formatOf(digest: string): Promise<string | null> {
    return formatAmong(await this.repo.findBy({ digest }));
  }

  /** True when the image has its bits: its digest's are stored and its group showed it holds them (see `register`). */
  hasContent(image: Pick<ImageEntity, 'digest' | 'contentProven'>): image is Pick<ImageEntity, 'contentProven'> & { digest: string } {
    return !!image.digest && image.contentProven && this.store.has(image.digest);
  }

  /** Changes who may see an image (its vendor group's members). */
  async setVisibility(actor: Principal, id: string, visibility: ImageVisibility, sharedWith: string[] = []): Promise<ImageEntity> {
    const image = await this.get(actor, id);
    policy.requireRole(actor, image.vendorGroupId, MemberRole.MEMBER, 'change this image');
    if (sharedWith.length && visibility !== ImageVisibility.SHARED) throw new BadInputError('sharedWith is only for SHARED images');
    checkSharedWith(sharedWith);
    return this.repo.save({ ...image, visibility, sharedWith });
  }

  /** An image the caller may use, else NOT_FOUND (private images are not revealed). */
  async get(actor: Principal, id: string): Promise<ImageEntity> {
    policy.requireAuthenticated(actor);
    return this.usable(actor, id, await this.rows.byId(id));
  }

  /** The image of `id` read by the caller (with something else, in one statement), if the actor may use it; NOT_FOUND as `get` otherwise. */
  usable(actor: Principal, id: string, image: ImageEntity | null): ImageEntity {
    policy.requireAuthenticated(actor);
    if (!image || !policy.canUseImage(actor, image)) throw new NotFoundError('Image', id);
    return image;
  }

  /** An image the caller may use, as the caller sees it (`present`); NOT_FOUND as `get`. */
  async view(actor: Principal, id: string): Promise<ImageEntity> {
    return present(actor, await this.get(actor, id));
  }

  /** The images the caller may see, optionally of one technology, as the caller sees them (`present`). */
  async list(actor: Principal, filter: { technology?: string }): Promise<ImageEntity[]> {
    const p = policy.requireAuthenticated(actor);
    const qb = this.repo.createQueryBuilder('i');
    if (filter.technology) qb.andWhere('i.technology = :t', { t: filter.technology });
    if (!p.siteAdmin) {
      qb.andWhere(`(i.visibility = 'PUBLIC' OR i."vendorGroupId" = :g OR (i.visibility = 'SHARED' AND i."sharedWith" @> :gj::jsonb))`, { g: p.groupId ?? '00000000-0000-0000-0000-000000000000', gj: JSON.stringify([p.groupId ?? '']) });
    }
    return (await qb.orderBy('i.name', 'ASC').addOrderBy('i.version', 'ASC').getMany()).map((i) => present(actor, i));
  }
}

/**
 * An image as `actor` sees it: the vendor group's members (and site admins) see every group it is
 * shared with; a group it is shared with sees only itself there (whom else the vendor serves is
 * the vendor's business). A copy; the record is never changed.
 */
function present(actor: Principal, image: ImageEntity): ImageEntity {
  if (policy.isMember(actor, image.vendorGroupId)) return image;
  const mine = actor.kind === 'token' ? actor.groupId : null;
  return Object.assign(new ImageEntity(), image, { sharedWith: image.sharedWith.filter((g) => g === mine) });
}

/** The format images of the same bits recorded (the first that did); null when none did. */
function formatAmong(images: readonly Pick<ImageEntity, 'format' | 'contentProven'>[]): string | null {
  return images.find((i) => i.contentProven && i.format)?.format ?? null;
}

/** The refusal of an upload of none of `formats`, naming what it looks like when known. */
function imageFormatError(technology: string, formats: readonly ImageFormat[], looksLike: string | null): BadInputError {
  const what = formats.map((f) => (f === 'rootfs-tar' ? 'rootfs-tar (a root filesystem as a tar archive, plain or compressed, e.g. made with tar -C rootfs -cf rootfs.tar .)' : f)).join(' or ');
  return new BadInputError(
    `The upload is not an image the ${technology} drivers take${looksLike ? `: it looks like ${looksLike}` : ''}. They take ${what}. Nothing was stored.`,
    { reason: 'IMAGE_FORMAT', technology, formats: [...formats], ...(looksLike ? { looksLike } : {}) },
  );
}

/** Most groups an image is shared with: every listing of the catalog carries its list. */
export const MAX_SHARED_WITH = 100;

/** Refuses a `sharedWith` over `MAX_SHARED_WITH` groups. */
function checkSharedWith(sharedWith: readonly string[]): void {
  if (sharedWith.length > MAX_SHARED_WITH) throw new BadInputError(`An image is shared with at most ${MAX_SHARED_WITH} groups`, { count: sharedWith.length });
}
