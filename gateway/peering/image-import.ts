import { DataSource, Repository } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, isCategory, NotFoundError, RspError } from '../errors';
import type { Logger } from '../logging/logger';
import { ImageEntity, ImageSource, ImageVisibility, MemberRole } from '../persistence/entities';
import type { ImageService } from '../services/image-service';
import type { PeerRequest } from './known-peers';
import type { Peering } from './peering';
import { PeerClient } from './peer-site';

/** What `importImage` asks: the image by digest, the site to fetch it from, the group that keeps it here. */
export interface ImportImageRequest {
  digest: string;
  /** One of this site's known peers (`RSP_PEER_SITES`); anything else is FORBIDDEN before any request. */
  from: PeerRequest;
  /** Default: the caller's group. */
  vendorGroupId?: string | null;
  visibility?: ImageVisibility | null;
}

/** An image as a peer site lists it. */
interface PeerImage {
  name: string;
  version: string;
  technology: string;
  digest: string | null;
  sizeBytes: number | null;
  description: string;
}

/**
 * Images exchanged between sites by digest: a site that lacks an image fetches it from a peer site
 * that has it (with the token that site issued), checks the bits against the digest, and keeps it
 * in its catalog for the caller's group. The peer's authorization decides what may be read there,
 * this site's what may be added here.
 */
export class ImageImport {
  private readonly repo: Repository<ImageEntity>;

  constructor(
    dataSource: DataSource,
    private readonly images: ImageService,
    private readonly logger: Logger,
    /** Which sites images may be fetched from. */
    private readonly peering: Peering,
  ) {
    this.repo = dataSource.getRepository(ImageEntity);
  }

  /**
   * The image of `digest` for the caller: one it may already use here with its bits stored, else
   * fetched from `from` (its name, version and technology as the peer lists them), registered for
   * the group (MEMBER) and stored, the bits checked against the digest: other bits are
   * INTEGRITY_ERROR (`details.reason: DIGEST_MISMATCH`) and nothing is kept. NOT_FOUND when the
   * peer has no image of that digest the token may use.
   */
  async importImage(actor: Principal, request: ImportImageRequest): Promise<ImageEntity> {
    const p = policy.requireAuthenticated(actor);
    const { digest } = request;
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new BadInputError('digest must be sha256:<64 hex digits>', { digest });
    const groupId = request.vendorGroupId ?? p.groupId;
    if (!groupId) throw new BadInputError('Say which group keeps the image (vendorGroupId)');
    policy.requireRole(actor, groupId, MemberRole.MEMBER, 'add images for this group');
    // Only a known peer, at its listed URL: checked first, whatever this site already holds.
    const from = this.peering.peerFor(request.from);
    const usable = (await this.images.list(actor, {})).find((i) => i.digest === digest && this.images.hasContent(i));
    if (usable) return usable;

    const peer = new PeerClient(from);
    const { images } = await peer.graphql<{ images: PeerImage[] }>('{ images { name version technology digest sizeBytes description } }');
    const listed = images.find((i) => i.digest === digest);
    if (!listed) throw new NotFoundError('Image', digest, { peer: from.name, reason: `site ${from.name} has no image of this digest your group may use` });
    const existing = await this.repo.findOneBy({ vendorGroupId: groupId, name: listed.name, version: listed.version, technology: listed.technology });
    if (existing && existing.digest && existing.digest !== digest) throw new RspError('CONFLICT', `Image ${listed.name}:${listed.version} (${listed.technology}) of this group already has another digest (${existing.digest})`, { digest, existing: existing.digest });
    const image =
      existing ??
      (await this.images.register(actor, { vendorGroupId: groupId, name: listed.name, version: listed.version, technology: listed.technology, source: ImageSource.USER_SUPPLIED, visibility: request.visibility ?? ImageVisibility.PRIVATE, description: listed.description, digest, sizeBytes: listed.sizeBytes }, true));
    // Bits this site keeps already (another group's image): the peer listing the image is the group's right to them.
    if (this.images.store.has(digest)) {
      await this.repo.update({ id: image.id }, { digest, contentProven: true, format: await this.images.formatOf(digest) });
      return this.repo.findOneByOrFail({ id: image.id });
    }
    if (!image.digest) await this.repo.update({ id: image.id }, { digest });
    try {
      const content = await peer.imageContent(digest);
      const stored = await this.images.storeContent(actor, image.id, content.stream, content.length ?? listed.sizeBytes ?? undefined);
      this.logger.info({ image: stored.id, digest, site: from.name, bytes: stored.sizeBytes }, 'image fetched from a peer site');
      return stored;
    } catch (e) {
      if (!existing) await this.repo.delete({ id: image.id });
      else if (!existing.digest) await this.repo.update({ id: image.id }, { digest: null });
      const got = isCategory(e, 'BAD_USER_INPUT') ? (e.details as { got?: string }).got : undefined;
      if (got) throw new RspError('INTEGRITY_ERROR', `Site ${from.name} sent bits of digest ${got}, not the ${digest} asked for: refused, nothing kept`, { reason: 'DIGEST_MISMATCH', peer: from.name, expected: digest, got });
      throw e;
    }
  }
}
