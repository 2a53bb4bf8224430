import { DataSource, Not } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import type { ImageStore } from '../artifacts/image-store';
import { EnvironmentEntity, EnvironmentStatus, ImageEntity, MemberRole } from '../persistence/entities';
import type { ImageService } from '../services/image-service';
import { Blockers, nameFor } from './blockers';

/** Deleting images from the catalog: refused while any environment uses one. */
export class ImageRetirement {
  constructor(
    private readonly dataSource: DataSource,
    private readonly images: ImageService,
    private readonly store: ImageStore,
  ) {}

  /**
   * Deletes an image (members of its vendor group, or site admins): refused with the list of the
   * environments (not destroyed) made from it. Its bits go too unless another image has them (a digest only declared does not keep them).
   */
  async deleteImage(actor: Principal, id: string): Promise<boolean> {
    const image = await this.images.get(actor, id);
    policy.requireRole(actor, image.vendorGroupId, MemberRole.MEMBER, 'delete this image');
    const orphaned = await this.dataSource.transaction(async (m) => {
      await m.getRepository(ImageEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      const blockers = new Blockers();
      for (const env of await m.getRepository(EnvironmentEntity).find({ where: { imageId: id, status: Not(EnvironmentStatus.DESTROYED) }, order: { name: 'ASC' } })) {
        blockers.add(`${nameFor(policy.isMember(actor, env.groupId), 'environment', env.name)} uses it`);
      }
      blockers.refuse(`Image ${image.name}:${image.version} cannot be deleted`);
      await m.getRepository(ImageEntity).delete({ id });
      return image.digest && !(await m.getRepository(ImageEntity).existsBy({ digest: image.digest, contentProven: true })) ? image.digest : null;
    });
    if (orphaned) await this.store.remove(orphaned);
    return true;
  }
}
