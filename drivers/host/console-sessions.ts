import type { InteractiveProcess } from '../contract';
import { ConflictError, type ErrorDetails } from '../errors';

/** The CONFLICT of a console asked of environment `id` while it is not running (`details`: what the driver saw). */
export function consoleNotRunning(id: string, details: ErrorDetails = {}): ConflictError {
  return new ConflictError(`Environment ${id} is not running: its console is there only while it runs`, { id, ...details });
}

/**
 * The open console sessions of a driver's environments, one at a time each: a console is one
 * stream (a serial port, a container's main process, a terminal), and two sessions typing into it
 * would interleave. A second session is CONFLICT until the first one's `exit` settles.
 */
export class ConsoleSessions {
  private readonly open = new Set<string>();

  /**
   * Runs `attach` for `key` (an environment, a domain) unless a session of it is open, and holds
   * the key until the returned process's `exit` settles; a failed `attach` frees it at once.
   * `what` names the console in the CONFLICT message (`the serial console`, `the console`).
   */
  async attach(key: string, what: string, attach: () => Promise<InteractiveProcess>): Promise<InteractiveProcess> {
    if (this.open.has(key)) throw new ConflictError(`A console session of ${key} is already open (${what} takes one at a time)`, { environment: key });
    this.open.add(key);
    let p: InteractiveProcess;
    try {
      p = await attach();
    } catch (e) {
      this.open.delete(key);
      throw e;
    }
    // Freed as the exit settles, before whoever awaits it (registered first) goes on.
    const free = () => void this.open.delete(key);
    p.exit.then(free, free);
    return p;
  }
}
