import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import type { InteractiveProcess } from '../../drivers/contract';
import { EXEC_PROTOCOL, STREAM, type ExecControl, type ExecStart } from '../../gateway/server/exec-protocol';

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

/** A process whose stdin is a 64 KiB pipe nobody reads until the test does (`input`); `finish` ends it with a code. */
export function stuckReader() {
  const input = new PassThrough({ highWaterMark: 64 * 1024 });
  let finish!: (code: number) => void;
  const proc: InteractiveProcess = { stdin: input, stdout: new PassThrough(), stderr: new PassThrough(), exit: new Promise<number>((resolve) => (finish = resolve)), resize: async () => undefined, kill: () => finish(-1) };
  return { proc, input, finish: (code: number) => finish(code) };
}

/**
 * Watches the gateway's end of the test's /exec socket: the server-side exec socket that first
 * calls `method` (`send` for the one writing to the client, `pause` for the one that stops
 * reading it) is kept as `socket`, until `restore`.
 */
export function serverExecSocket(method: 'send' | 'pause') {
  let socket: WebSocket | undefined;
  const original = WebSocket.prototype[method] as (...args: unknown[]) => unknown;
  const spy = jest.spyOn(WebSocket.prototype, method).mockImplementation(function (this: WebSocket, ...args: unknown[]) {
    if ((this as unknown as { _isServer: boolean })._isServer && this.protocol === EXEC_PROTOCOL) socket = this;
    return original.apply(this, args);
  } as never);
  return {
    get socket(): WebSocket | undefined {
      return socket;
    },
    restore: () => spy.mockRestore(),
  };
}

/** A raw /exec socket to the gateway at `gatewayUrl` as `token`, open, and the close code it will end with. */
export async function openExecSocket(gatewayUrl: string, token: string) {
  const ws = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}/exec`, [EXEC_PROTOCOL], { headers: { authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, closed: new Promise<number>((resolve) => ws.once('close', resolve)) };
}

/**
 * A raw /exec client of the gateway at `gatewayUrl`, as `token`, that stops reading its socket and
 * then starts `start`: it records the stdout frames it reads (once resumed), the control messages,
 * and how many stdout bytes had arrived when the exit came.
 */
export async function pausedExecClient(gatewayUrl: string, token: string, start: ExecStart) {
  const { ws, closed } = await openExecSocket(gatewayUrl, token);
  const client = { ws, received: [] as Buffer[], receivedBytes: 0, controls: [] as ExecControl[], bytesAtExit: -1, closed };
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) {
      const c = JSON.parse(data.toString('utf8')) as ExecControl;
      if (c.type === 'exit') client.bytesAtExit = client.receivedBytes;
      return client.controls.push(c);
    }
    if (data[0] !== STREAM.stdout) return;
    client.received.push(data.subarray(1));
    client.receivedBytes += data.length - 1;
  });
  ws.pause();
  ws.send(JSON.stringify(start));
  return client;
}
