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
/**
 * On a container made from a snapshot image only to read its filesystem (`exportSnapshot`): the
 * environment it exports. It inherits the image's labels (the environment's among them), so
 * `list`, `inspect` and reconciliation pass by every container with this label.
 */
export const LABEL_EXPORT_OF = 'rsp.export-of';
/** The driver instance that owns a container, when several agents share one engine (absent: the default instance). */
export const LABEL_INSTANCE = 'rsp.instance';

/**
 * The installation or agent that made an object (`DockerDriverOptions.owner`), so that two RSP
 * installations sharing one engine never list, report or remove each other's objects. An object
 * without it (made before owners existed) is every owner's, as it was.
 */
export const LABEL_OWNER = 'rsp.owner';

/** Container name of an environment: `rsp-<id>`, or `rsp-<instance>-<id>` for a named driver instance. */
export function containerName(id: string, instance?: string): string {
  return instance ? `rsp-${instance}-${id}` : `rsp-${id}`;
}

/** Engine filter selecting every container RSP owns (of `instance`, when named). */
export function ownedFilter(id?: string, instance?: string): { label: string[] } {
  return { label: [id ? `${LABEL_ENVIRONMENT}=${id}` : LABEL_ENVIRONMENT, ...(instance ? [`${LABEL_INSTANCE}=${instance}`] : [])] };
}

/** True when a container's labels say it belongs to `instance` (none: the default instance, without the label). */
export function ofInstance(labels: Record<string, string> | undefined, instance?: string): boolean {
  return (labels?.[LABEL_INSTANCE] ?? undefined) === instance;
}

/** True when an object's labels name `owner`, or no owner at all (made before owners existed; a driver without an owner sees only those). */
export function ofOwner(labels: Record<string, string> | undefined, owner?: string): boolean {
  const labelled = labels?.[LABEL_OWNER];
  return labelled === undefined || labelled === owner;
}

/** True when an object is this driver's: of its instance and of its owner (or of none). */
export function isOurs(labels: Record<string, string> | undefined, scope: { instance?: string; owner?: string }): boolean {
  return ofInstance(labels, scope.instance) && ofOwner(labels, scope.owner);
}
