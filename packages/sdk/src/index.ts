/**
 * `@rsp/sdk`: what a driver or plugin for RSP is written against. The driver contract, the
 * errors (recognised by brand, see `isRspError`), the plugin API, and the helpers drivers share
 * (`Revert`, `withDeadline`, capability and id checks). The conformance suite is at
 * `@rsp/sdk/conformance`, the in-memory reference driver at `@rsp/sdk/fake`.
 */
export * from './contract';
export * from './errors';
export { EnvironmentNotFoundError, EnvironmentExistsError, requireCapability, assertLimitsSupported, assertEnvironmentId } from './driver-errors';
export * from './plugin-api';
export { Revert } from './revert';
export { withDeadline } from './call';
