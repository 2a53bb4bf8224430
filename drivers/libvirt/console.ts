import { connect, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import type { InteractiveProcess } from '../contract';
import { ConflictError, UnavailableError } from '../errors';

/** The longest unix socket path Linux takes (`sun_path` is 108 bytes, NUL included). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * The consoles of a driver's VMs: each serial console is a unix socket libvirt listens on, which
 * takes one client at a time, so one session per domain; a second is CONFLICT while it is open.
 */
export class ConsoleSessions {
  private readonly open = new Map<string, Socket>();

  /**
   * Connects to the console socket of `domain` at `path`: what the guest writes arrives on
   * `stdout`, `stdin` writes are typed into it (ending `stdin` does not detach; `kill` does), and
   * `exit` settles with 0 once the socket closed (detached, or the domain stopped).
   */
  async attach(domain: string, path: string): Promise<InteractiveProcess> {
    if (this.open.has(domain)) throw new ConflictError(`A console session of ${domain} is already open (a serial console takes one at a time)`, { domain });
    const socket = connect(path);
    this.open.set(domain, socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    } catch (e) {
      this.open.delete(domain);
      throw new UnavailableError(`the console of ${domain} does not answer at ${path}: ${(e as Error).message}`, { domain }, { cause: e });
    }
    socket.on('error', () => undefined);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stderr.end();
    socket.pipe(stdout);
    const stdin = new Writable({
      write: (chunk: Buffer, _encoding, done) => (socket.writable ? socket.write(chunk, () => done()) : done()),
      final: (done) => done(),
    });
    const exit = new Promise<number>((resolve) =>
      socket.once('close', () => {
        if (this.open.get(domain) === socket) this.open.delete(domain);
        resolve(0);
      }),
    );
    return { stdin, stdout, stderr, resize: async () => undefined, exit, kill: () => socket.destroy() };
  }
}
