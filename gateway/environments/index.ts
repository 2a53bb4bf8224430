export * from './lifecycle';
export * from './names';
export * from './state-machine';
export * from './log-follower';
