/** The errors drivers raise and the checks that raise them; their source is the SDK's (`@rsp/sdk`). */
export * from '../packages/sdk/src/errors';
export { EnvironmentNotFoundError, EnvironmentExistsError, requireCapability, assertSnapshotName, SnapshotNotFoundError, assertLimitsSupported, assertFeaturesSupported, assertEnvironmentId } from '../packages/sdk/src/driver-errors';
