/**
 * `@rsp/sdk`: what a driver or plugin for RSP is written against. The driver contract, the
 * errors (recognised by brand, see `isRspError`), the plugin API, and the helpers drivers share
 * (`Revert`, `withDeadline`, capability and id checks, running host tools with argument arrays,
 * the Linux bridges of managed networks, the host ports published to them, bandwidth caps on veths). The conformance suite is at
 * `@rsp/sdk/conformance`, the in-memory reference driver at `@rsp/sdk/fake`.
 */
export * from './contract';
export * from './errors';
export { EnvironmentNotFoundError, EnvironmentExistsError, requireCapability, assertSnapshotName, SnapshotNotFoundError, assertLimitsSupported, assertFeaturesSupported, assertEnvironmentId } from './driver-errors';
export * from './plugin-api';
export { Revert } from './revert';
export { withDeadline } from './call';
export { runTool, runToolOk, lastLines } from './host/run-tool';
export type { ToolResult, RunToolOptions } from './host/run-tool';
export { managedNetworkOf } from './host/managed-network';
export { assertIpv6Available, ipv6Groups, ipv6Text } from './host/ipv6';
export { deleteRules, egressRules6, insertRules, isUniqueLocal } from './host/ipv6-egress';
export type { ManagedNetwork } from './host/managed-network';
export { ManagedBridges, bridgeName } from './host/bridges';
export { PortForwards, assertPortSpecs } from './host/port-forwards';
export { VethShaping, shapedInterfaces } from './host/shaping';
export type { ShapedInterfaces } from './host/shaping';
