import { In, type DataSource } from 'typeorm';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { EnvironmentEntity, ImageEntity } from '../persistence/entities';

/**
 * What a caller sees of environments. Members of its group (and site admins) see all of it; the
 * admins governing its host see its metadata, limits and status but not its config values,
 * command, errors, layer or allocation. `imageId` is null for anyone who may not see the image.
 * Returns copies; the records are never changed.
 */
export async function presentEnvironments(dataSource: DataSource, actor: Principal, envs: EnvironmentEntity[]): Promise<EnvironmentEntity[]> {
  const imageIds = [...new Set(envs.map((e) => e.imageId).filter((id): id is string => !!id))];
  const images = imageIds.length ? await dataSource.getRepository(ImageEntity).findBy({ id: In(imageIds) }) : [];
  const visible = new Set(images.filter((i) => policy.canUseImage(actor, i)).map((i) => i.id));
  return envs.map((env) => {
    const copy = Object.assign(new EnvironmentEntity(), env, { imageId: env.imageId && visible.has(env.imageId) ? env.imageId : null });
    return policy.isMember(actor, env.groupId) ? copy : redacted(copy);
  });
}

/** The view of a guest environment its host's owners get: no config values, command, errors, layer or allocation. */
function redacted(env: EnvironmentEntity): EnvironmentEntity {
  return Object.assign(env, {
    iface: { ...env.iface, config: {} },
    command: null,
    lastError: null,
    drift: null,
    layerId: null,
    allocationId: null,
    imageRef: null,
  });
}
