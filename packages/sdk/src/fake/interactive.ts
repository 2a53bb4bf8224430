import { PassThrough } from 'node:stream';
import type { InteractiveExecOptions, InteractiveProcess } from '../contract';
import { type CommandContext, runCommand } from './exec';

/**
 * The fake's interactive process. `sh` reads lines from its standard input and runs each as an
 * argument array of the fake's command set (`exit N` ends it with N, the end of input with 0);
 * any other command runs once over the whole standard input. With `tty`, input is echoed back
 * as a terminal would, output lines end in CRLF and stderr is merged into stdout; `stty size`
 * in `sh` then prints the terminal's rows and columns (as asked, then as resized; 24 80 unless told).
 */
export function startInteractive(command: string[], ctx: Omit<CommandContext, 'stdin'>, options: InteractiveExecOptions = {}): InteractiveProcess {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const tty = options.tty === true;
  const size = { columns: options.columns ?? 80, rows: options.rows ?? 24 };
  const write = (text: string, err: boolean) => {
    if (!text) return;
    if (tty) stdout.write(text.replace(/\r?\n/g, '\r\n'));
    else (err ? stderr : stdout).write(text);
  };
  let finish!: (code: number) => void;
  const exit = new Promise<number>((resolve) => {
    finish = (code) => {
      stdin.removeAllListeners('data');
      stdout.end();
      stderr.end();
      stdout.once('close', () => resolve(code));
      stdout.resume();
      stderr.resume();
    };
  });
  let done = false;
  const end = (code: number) => {
    if (done) return;
    done = true;
    finish(code);
  };
  if (command[0] === 'sh' && command.length === 1) {
    let pending = '';
    let queue = Promise.resolve();
    stdin.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (tty) write(text.replace(/\r\n?/g, '\n'), false);
      pending += text.replace(/\r/g, '\n');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        queue = queue.then(async () => {
          if (done || !line) return;
          const argv = line.split(/\s+/);
          if (argv[0] === 'exit') return end(Number.parseInt(argv[1] ?? '0', 10) || 0);
          if (tty && argv[0] === 'stty' && argv[1] === 'size' && argv.length === 2) return write(`${size.rows} ${size.columns}\n`, false);
          const r = await runCommand(argv, { ...ctx, stdin: '' });
          write(r.stdout, false);
          write(r.stderr, true);
        });
      }
    });
    stdin.on('end', () => void queue.then(() => end(0)));
  } else {
    const input: Buffer[] = [];
    stdin.on('data', (chunk: Buffer) => input.push(chunk));
    stdin.on('end', () => {
      void runCommand(command, { ...ctx, stdin: Buffer.concat(input).toString('utf8') }).then((r) => {
        write(r.stdout, false);
        write(r.stderr, true);
        end(r.exitCode);
      });
    });
  }
  const resize = async (columns: number, rows: number) => {
    size.columns = columns;
    size.rows = rows;
  };
  return { stdin, stdout, stderr, exit, resize, kill: () => end(137) };
}
