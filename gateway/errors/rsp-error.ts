/** The error model; its source is the SDK's (`@rsp/sdk`), so drivers and plugins raise the same errors. */
export * from '../../packages/sdk/src/errors';
