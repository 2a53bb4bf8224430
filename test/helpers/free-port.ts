import { createServer } from 'node:net';

/** Linux's default ephemeral range starts here: ports below it are never given to `listen(0)` or to an outgoing connection. */
const EPHEMERAL_START = 32_768;
/** Where the picked ports start: above the usual fixed service ports. */
const LOWEST = 20_000;

/**
 * A port free on `host` now, for a test that must tell a process its port before starting it
 * (sites told each other's addresses, a fixed agent port). Picked at random below the ephemeral
 * range, so that no outgoing connection or `listen(0)` of the busy machine takes it between this
 * check and the process's own listen (a port from `listen(0)` could be handed out again meanwhile).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = LOWEST + Math.floor(Math.random() * (EPHEMERAL_START - LOWEST));
    const probe = createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen({ port, host, exclusive: true }, () => resolve(true));
    });
    if (free) {
      await new Promise((resolve) => probe.close(resolve));
      return port;
    }
  }
}
