import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import type { InteractiveProcess } from '../contract';
import { UnavailableError } from '../errors';
import { consoleInput } from '../host/console-input';

/** The longest unix socket path Linux takes (`sun_path` is 108 bytes, NUL included). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Connects to the serial console socket of `domain` at `path` (libvirt listens on it, one client
 * at a time; the driver's `ConsoleSessions` keeps it to one session): what the guest writes
 * arrives on `stdout`, `stdin` writes are typed into it (ending `stdin` does not detach; `kill`
 * does), and `exit` settles with 0 once the socket closed (detached, or the domain stopped).
 */
export async function attachSerialConsole(domain: string, path: string): Promise<InteractiveProcess> {
  const socket = connect(path);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  } catch (e) {
    throw new UnavailableError(`the console of ${domain} does not answer at ${path}: ${(e as Error).message}`, { domain }, { cause: e });
  }
  socket.on('error', () => undefined);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stderr.end();
  socket.pipe(stdout);
  const stdin = consoleInput(socket);
  const exit = new Promise<number>((resolve) => socket.once('close', () => resolve(0)));
  return { stdin, stdout, stderr, resize: async () => undefined, exit, kill: () => socket.destroy() };
}
