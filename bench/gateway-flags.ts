import { fork } from 'node:child_process';
import { GATEWAY_NODE_FLAGS } from '../gateway/server/node-flags';

/**
 * Runs a bench that serves a gateway in this process with the Node flags `npm start` serves the
 * gateway with (GATEWAY_NODE_FLAGS): `main` here when this process has them, else this script
 * (`script`, its `__filename`) again in a fork with them added, whose exit code this process
 * exits with. A failure of `main` is printed and exits 1.
 */
export function runWithGatewayFlags(script: string, main: () => Promise<void>): void {
  const missingFlags = GATEWAY_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missingFlags.length) {
    fork(script, process.argv.slice(2), { execArgv: [...process.execArgv, ...missingFlags], stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1));
    return;
  }
  void main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
