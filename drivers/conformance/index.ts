/** The driver conformance suite; its source is the SDK's (`@rsp/sdk/conformance`). */
export * from '../../packages/sdk/src/conformance';
