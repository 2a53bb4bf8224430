export { LxcDriver, createLxcDriver } from './driver';
export type { LxcDriverOptions } from './options';
