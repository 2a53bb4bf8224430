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
