/** The revert stack; its source is the SDK's (`@rsp/sdk`). */
export { Revert } from '../packages/sdk/src/revert';
