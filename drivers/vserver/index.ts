export { VserverDriver, createVserverDriver, guestName } from './driver';
export type { VserverDriverOptions } from './options';
export { parseVserverStat } from './vserver-cli';
