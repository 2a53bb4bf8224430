/** `withDeadline`; its source is the SDK's (`@rsp/sdk`). */
export { withDeadline } from '../packages/sdk/src/call';
