/** The plugin API; its source is the SDK's (`@rsp/sdk`), re-exported for the gateway. */
export * from '../packages/sdk/src/plugin-api';
