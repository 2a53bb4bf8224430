import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { InteractiveProcess } from '../../drivers/contract';

/** Word `i` (4 bytes, big-endian) of a busy writer's output is `i`: `length` bytes from byte `offset` (both multiples of 4). */
export function counting(offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; at += 4) bytes.writeUInt32BE((offset + at) / 4, at);
  return bytes;
}

/**
 * A process that writes `total` bytes of `counting` to its stdout as fast as it is taken, as a
 * real one writes into a pipe: `chunk` bytes a write, and once a write finds the pipe full
 * (`write` false) it waits for `drain` (`waiting`). Its exit settles once its output was read to
 * the end (the contract's). Its stdin is never read.
 */
export function busyWriter(total: number, chunk: number) {
  const stdout = new PassThrough({ highWaterMark: 64 * 1024 });
  const state = { written: 0, waiting: false };
  const exit = new Promise<number>((resolve) => {
    stdout.once('end', () => resolve(0));
    stdout.once('close', () => resolve(-1));
  });
  const write = () => {
    state.waiting = false;
    while (state.written < total) {
      const bytes = counting(state.written, Math.min(chunk, total - state.written));
      state.written += bytes.length;
      if (!stdout.write(bytes)) {
        state.waiting = true;
        stdout.once('drain', write);
        return;
      }
    }
    stdout.end();
  };
  setImmediate(write);
  const proc: InteractiveProcess = { stdin: new PassThrough(), stdout, stderr: new PassThrough(), exit, resize: async () => undefined, kill: () => stdout.destroy() };
  return { proc, state };
}

/** The most bytes this machine's kernel may hold in one loopback TCP connection: the receiver's and the sender's buffer maxima (`tcp_rmem`, `tcp_wmem`). */
export function tcpBufferMaxima(): number {
  const max = (file: string) => Number(readFileSync(file, 'utf8').trim().split(/\s+/)[2]);
  return max('/proc/sys/net/ipv4/tcp_rmem') + max('/proc/sys/net/ipv4/tcp_wmem');
}
