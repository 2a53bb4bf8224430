import pino, { Logger } from 'pino';
import type { GatewayConfig } from '../config/config';

export type { Logger };

/**
 * Creates the gateway's structured logger: JSON lines in production (`LOG_FORMAT=json`, or when
 * stdout is not a terminal) and human-readable lines in a terminal.
 */
export function createLogger(config: Pick<GatewayConfig, 'logLevel' | 'logFormat'>): Logger {
  const pretty = config.logFormat ? config.logFormat === 'pretty' : process.stdout.isTTY === true;
  return pino({
    name: 'rsp',
    level: config.logLevel,
    base: { pid: process.pid },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  });
}
