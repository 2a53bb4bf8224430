/**
 * The labels the Docker driver puts on every object it creates. Reconciliation and `list()` find
 * RSP's containers by them and never touch a container without them.
 */
export const LABEL_ENVIRONMENT = 'rsp.environment';
export const LABEL_GROUP = 'rsp.group';
/** On a container whose image the driver created for it alone (by `importEnvironment`): destroy removes the image too. */
export const LABEL_OWNED_IMAGE = 'rsp.owned-image';
/** The image reference the environment was created from (the engine only keeps the resolved id). */
export const LABEL_IMAGE_REF = 'rsp.image-ref';
export const LABEL_IMAGE_DIGEST = 'rsp.image-digest';

/** Container name of an environment. */
export function containerName(id: string): string {
  return `rsp-${id}`;
}

/** Engine filter selecting every container RSP owns. */
export function ownedFilter(id?: string): { label: string[] } {
  return { label: [id ? `${LABEL_ENVIRONMENT}=${id}` : LABEL_ENVIRONMENT] };
}
