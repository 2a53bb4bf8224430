/** Shared with plugins: the source is the SDK's (`@rsp/sdk`). */
export * from '../../packages/sdk/src/host/ipv6-egress';
