// First, as rsp's CLI does: graphql-js in production mode unless NODE_ENV is set (measured as served).
import '../gateway/server/graphql-production';
import pino from 'pino';
import { loadConfig } from '../gateway/config/config';
import { startGateway } from '../gateway/server/gateway';
import { UNLIMITED } from './unlimited';

/** What a site process tells bench/federation once it listens. */
export interface SiteReady {
  graphqlUrl: string;
  bootstrapToken: string;
}

/**
 * One member site of bench/federation in its own process, as an independent deployment is: a
 * gateway on PGlite in `RSP_DATA_DIR` (given by the parent) with the fake driver, on a free port.
 * It sends its URL and first-start token to the parent, and stops when the parent disconnects.
 */
async function main(): Promise<void> {
  const gateway = await startGateway(loadConfig({ PORT: '0', RSP_DATA_DIR: process.env.RSP_DATA_DIR!, RSP_DRIVERS: 'fake', RSP_METRICS_INTERVAL_MS: '0', LOG_LEVEL: 'silent', ...UNLIMITED }), { logger: pino({ level: 'silent' }), setup: false });
  process.once('disconnect', () => void gateway.close().then(() => process.exit(0)));
  process.send!({ graphqlUrl: gateway.graphqlUrl, bootstrapToken: gateway.bootstrapToken! } satisfies SiteReady);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
