/** The driver contract, registry, fake driver and conformance suite, for the gateway and embedders (plugin authors: `@rsp/sdk`). */
export * from './contract';
export { EnvironmentNotFoundError, EnvironmentExistsError, requireCapability, assertLimitsSupported, assertEnvironmentId } from './errors';
export { Revert } from './revert';
export { withDeadline } from './call';
export { DriverRegistry, probeDriver, DEFAULT_PROBE_TIMEOUT_MS, DRIVER_NAME_PATTERN } from './registry';
export type { DriverProbeReport } from './registry';
export { FakeDriver, FakeNetwork, DEFAULT_FAKE_NETWORK, createRootfsTar, readRootfsTar, FAKE_COMMANDS } from './fake';
export type { FakeDriverOptions, FakeFailures, FakeCreateStep, FakeCapacity } from './fake';
export { runConformanceSuite } from './conformance';
export type { ConformanceOptions, ConformanceSubject, TestApi } from './conformance';
