import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import type { InteractiveProcess } from '../contract';
import { UnsupportedOperationError } from '../errors';

/** The Python interpreter that runs the relay: the system's, else the first `python3` on the PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * The relay (Python's terminal calls; Node has no pseudo-terminals of its own and RSP adds no native
 * package): argv is `raw|cooked columns rows file args…`. It runs `file` on a new pseudo-terminal
 * sized first (in raw mode for a program that is itself a terminal's proxy, as `lxc-attach` is:
 * the terminal inside does the line discipline, once; output mapping the program turns back on is
 * turned off at its first output, which is mapped back; input is held until the program set its
 * terminal up, as that flushes what was typed before), copies its standard input to the terminal and the terminal to its standard output, reads
 * `columns rows` lines on fd 3 to resize it (the kernel signals SIGWINCH to the process), and
 * exits with the process's exit code (128+N for a signal) once the terminal's output was read.
 */
const RELAY = String.raw`
import fcntl, os, select, struct, sys, termios, time, tty
started = time.monotonic()
def size(fd, columns, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, columns, 0, 0))
def put(fd, data):
    while data:
        data = data[os.write(fd, data):]
raw, columns, rows, argv = sys.argv[1] == 'raw', int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
master, slave = os.openpty()
size(slave, columns, rows)
if raw:
    tty.setraw(slave)
initial = termios.tcgetattr(master)
pid = os.fork()
if pid == 0:
    os.close(master)
    os.close(3)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, ('cannot run %s: %s\n' % (argv[0], e.strerror)).encode())
        os._exit(127)
os.close(slave)
def unmap(data):
    # A raw terminal's program may turn output processing back on (lxc-attach does): turned off
    # again, and what it mapped (each newline to CR NL) mapped back.
    attrs = termios.tcgetattr(master)
    if not raw or not (attrs[1] & termios.OPOST and attrs[1] & termios.ONLCR):
        return data
    attrs[1] &= ~termios.ONLCR
    termios.tcsetattr(master, termios.TCSANOW, attrs)
    return data.replace(b'\r\n', b'\n')
# A proxy sets up its terminal first, flushing what input was there: input waits for that.
waiting = raw
watched, control = [master, 3] if raw else [master, 3, 0], b''
while True:
    if waiting and (termios.tcgetattr(master) != initial or time.monotonic() > started + 10):
        waiting = False
        watched.append(0)
    ready = select.select(watched, [], [], 0.02 if waiting else None)[0]
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b''
        if not data:
            break
        put(1, unmap(data))
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            put(master, data)
        else:
            watched.remove(0)
    if 3 in ready:
        data = os.read(3, 4096)
        if not data:
            watched.remove(3)
        control += data
        while b'\n' in control:
            line, control = control.split(b'\n', 1)
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                size(master, int(parts[0]), int(parts[1]))
status = os.waitpid(pid, 0)[1]
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

/** Columns and rows of a terminal when the caller gives none. */
const DEFAULT_SIZE = { columns: 80, rows: 24 };

/** Clamps a terminal dimension to what the kernel's winsize holds (1–65535). */
function dimension(n: number | undefined, fallback: number): number {
  return Number.isInteger(n) && n! > 0 ? Math.min(n!, 65535) : fallback;
}

/**
 * Runs `file` with `args` (an argument array, never a shell) on a pseudo-terminal of
 * `columns`×`rows` (raw with `raw`) through the Python relay above: its terminal's output is `stdout` (`stderr`
 * carries only the relay's own complaints), `resize` changes the terminal's size, `kill` ends the
 * relay (the terminal closes: the process gets SIGHUP). UNSUPPORTED_OPERATION without python3.
 */
export function spawnOnTerminal(file: string, args: readonly string[], size: { columns?: number; rows?: number; raw?: boolean } = {}): InteractiveProcess {
  if (PYTHON === 'python3' && !(process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(`${dir}/python3`))) {
    throw new UnsupportedOperationError('a terminal (tty) for interactive exec', 'this host', 'the pseudo-terminal relay needs python3, which is not installed');
  }
  const columns = dimension(size.columns, DEFAULT_SIZE.columns);
  const rows = dimension(size.rows, DEFAULT_SIZE.rows);
  const child = spawn(PYTHON, ['-I', '-c', RELAY, size.raw ? 'raw' : 'cooked', String(columns), String(rows), file, ...args], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const control = child.stdio[3] as Writable;
  child.stdin.on('error', () => undefined);
  control.on('error', () => undefined);
  const stderr = new PassThrough();
  child.stderr.pipe(stderr);
  const exit = new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (code) => resolve(code ?? -1));
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr,
    exit,
    resize: async (c: number, r: number) => {
      if (!control.writable) return;
      control.write(`${dimension(c, columns)} ${dimension(r, rows)}\n`);
    },
    kill: () => void child.kill('SIGKILL'),
  };
}
