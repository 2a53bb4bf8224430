/** The in-memory fake driver and what tests need to drive it. */
export { FakeDriver } from './driver';
export type { FakeDriverOptions, FakeFailures, FakeCreateStep, FakeCapacity } from './config';
export { FakeNetwork, DEFAULT_FAKE_NETWORK } from './network';
export { createRootfsTar, readRootfsTar } from './tar';
export { COMMANDS as FAKE_COMMANDS } from './exec';
