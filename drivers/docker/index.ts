/** The Docker driver: one file per role (see each file's doc comment). */
export { DockerDriver, createDockerDriver, toInfo } from './driver';
export type { DockerDriverOptions } from './config';
export { resolveDockerConfig, DEFAULT_SOCKET_PATH } from './config';
export { ENFORCED_LIMITS, limitsToHostConfig, limitsFromHostConfig } from './limits';
export { CONFIG_ENV_PATH } from './interface';
export { LABEL_ENVIRONMENT, LABEL_GROUP, containerName } from './labels';
export { normaliseStats } from './stats';
export { EXPORT_FORMAT } from './export';
