/** The in-memory fake driver; its source is the SDK's reference driver (`@rsp/sdk/fake`). */
export * from '../../packages/sdk/src/fake';
