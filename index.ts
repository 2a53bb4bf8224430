/** The public API of RSP for embedders and plugin authors. */
export { loadConfig, ConfigError } from './gateway/config/config';
export type { GatewayConfig } from './gateway/config/config';
export { startGateway } from './gateway/server/gateway';
export type { Gateway, StartOptions } from './gateway/server/gateway';
export * from './gateway/errors/rsp-error';
export { RSP_VERSION } from './gateway/version';
export * from './drivers';
export * from './plugins';
