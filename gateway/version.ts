import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The version of RSP, from package.json (found from source and from dist/). */
export const RSP_VERSION: string = (() => {
  for (const up of ['..', '../..']) {
    try {
      return (JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // not at this depth
    }
  }
  return '0.0.0';
})();
