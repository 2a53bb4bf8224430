import { Transform } from 'node:stream';
import type { InteractiveProcess } from '../contract';
import { consoleInput } from '../host/console-input';

/** The escape prefix `lxc-console` is given (`-e ^a`, its default): Ctrl-a, then `q` detaches. */
export const CONSOLE_ESCAPE = '^a';
const ESCAPE_BYTE = 0x01;

/** What `lxc-console` prints as it attaches (the escape it names does not apply: see `doubleEscapes`). */
export const CONSOLE_BANNER = '\nConnected to tty 0\nType <Ctrl+a q> to exit the console, <Ctrl+a Ctrl+a> to enter Ctrl+a itself\n';

/**
 * Every escape byte (Ctrl-a) doubled, which `lxc-console` passes on as one Ctrl-a: whatever the
 * user types reaches the container as typed, and Ctrl-a q never detaches by surprise (a session
 * detaches by closing, as every console of RSP does).
 */
export function doubleEscapes(chunk: Buffer): Buffer {
  if (!chunk.includes(ESCAPE_BYTE)) return chunk;
  const out: number[] = [];
  for (const b of chunk) {
    out.push(b);
    if (b === ESCAPE_BYTE) out.push(b);
  }
  return Buffer.from(out);
}

/**
 * Drops `banner` from the start of a stream, and only there: what comes is held while it may
 * still be the banner, then passed on whole once it is not (or without the banner once it was).
 */
export function withoutBanner(banner: string): Transform {
  const expected = Buffer.from(banner);
  let held: Buffer | null = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (held === null) return done(null, chunk);
      held = Buffer.concat([held, chunk]);
      const n = Math.min(held.length, expected.length);
      if (!held.subarray(0, n).equals(expected.subarray(0, n))) {
        const all = held;
        held = null;
        return done(null, all);
      }
      if (held.length < expected.length) return done();
      const rest = held.subarray(expected.length);
      held = null;
      done(null, rest.length ? rest : undefined);
    },
    flush(done) {
      done(null, held?.length ? held : undefined);
    },
  });
}

/**
 * The console session of `lxc-console` running on a pseudo-terminal (`p`, from host/pty.ts):
 * what is typed goes through `doubleEscapes` (the end of input is not passed on: only `kill`
 * detaches), the banner is dropped from the output, and `exit` is 0 once detached by `kill` or
 * once the console went away (`lxc-console`'s own code when it could not attach).
 */
export function lxcConsoleSession(p: InteractiveProcess): InteractiveProcess {
  let detached = false;
  const stdout = p.stdout.pipe(withoutBanner(CONSOLE_BANNER));
  return {
    stdin: consoleInput(p.stdin, doubleEscapes),
    stdout,
    stderr: p.stderr,
    resize: (columns, rows) => p.resize(columns, rows),
    exit: p.exit.then((code) => (detached ? 0 : code)),
    kill: () => {
      detached = true;
      p.kill();
    },
  };
}
