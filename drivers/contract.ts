/** The driver contract; its source is the SDK's (`@rsp/sdk`), re-exported for the drivers and the gateway. */
export * from '../packages/sdk/src/contract';
