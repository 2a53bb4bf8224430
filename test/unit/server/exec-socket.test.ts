import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import type { InteractiveProcess } from '../../../drivers/contract';
import type { Principal } from '../../../gateway/auth/principal';
import type { RefusalLog } from '../../../gateway/limits/refusal-log';
import type { RequestLimits } from '../../../gateway/limits/request-limits';
import { CredentialSockets } from '../../../gateway/server/credential-sockets';
import { EXEC_PROTOCOL, MAX_EXEC_FRAME_BYTES, STREAM } from '../../../gateway/server/exec-protocol';
import { execSocket } from '../../../gateway/server/exec-socket';
import type { EnvironmentService } from '../../../gateway/services/environment-service';

const MEMBER: Principal = { kind: 'token', tokenId: 't1', name: 'member', groupId: 'g1', role: 'MEMBER' as never, siteAdmin: false };

/** A process whose stdin takes writes only once `release` is called: a command that does not read its input. */
function stuckProcess() {
  const held: Array<() => void> = [];
  let released = false;
  const received: Buffer[] = [];
  const stdin = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      if (released) setImmediate(done);
      else held.push(done);
    },
  });
  const proc: InteractiveProcess = { stdin, stdout: new PassThrough(), stderr: new PassThrough(), resize: async () => undefined, exit: new Promise<number>(() => undefined), kill: () => undefined };
  return {
    proc,
    received,
    release() {
      released = true;
      for (const done of held.splice(0)) done();
    },
  };
}

/**
 * The `/exec` socket against what a client may send: frames over the size limit close the session
 * (1009), and standard input a process does not read is held back at the client (the gateway
 * stops reading the socket) instead of piling up in the gateway's memory.
 */
describe('exec socket: bounded frames and standard input', () => {
  let server: Server;
  let url: string;
  let raw: Socket | undefined;
  let stuck: ReturnType<typeof stuckProcess>;
  let close: () => void;

  beforeAll(async () => {
    const environments = { get: async () => ({ hostId: 'h' }), sessionLost: async () => undefined, interactiveExec: async () => stuck.proc, console: async () => stuck.proc } as unknown as EnvironmentService;
    const limits = { admitSocket: async () => () => undefined } as unknown as RequestLimits;
    const refusals = { count: () => undefined } as unknown as RefusalLog;
    const exec = execSocket({ limits, refusals, authenticate: async () => MEMBER, environments, credentialSockets: new CredentialSockets(() => () => undefined), watchEnvironment: () => () => undefined, logger: pino({ level: 'silent' }) });
    close = exec.close;
    server = createServer();
    server.on('upgrade', (req, socket, head) => {
      raw = socket as Socket;
      void exec.handle(req, socket, head);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/exec`;
  });

  afterAll(async () => {
    close();
    await new Promise((resolve) => server.close(resolve));
  });

  const open = async (): Promise<WebSocket> => {
    stuck = stuckProcess();
    const ws = new WebSocket(url, [EXEC_PROTOCOL], { headers: { authorization: 'Bearer rsp_x' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ environment: 'e1', command: ['cat'] }));
    return ws;
  };
  const stdinFrame = (bytes: Buffer) => Buffer.concat([Buffer.from([STREAM.stdin]), bytes]);

  test('a frame over MAX_EXEC_FRAME_BYTES closes the session with 1009, nothing of it reaching the process', async () => {
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.send(stdinFrame(Buffer.alloc(MAX_EXEC_FRAME_BYTES + 1, 1)));
    expect(await closed).toBe(1009);
    expect(stuck.received).toEqual([]);
  });

  test('a frame header claiming 2^40 bytes, or a text frame of bad UTF-8, closes that session only: the next one is served', async () => {
    for (const header of [Buffer.from([0x82, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28])]) {
      const ws = await open();
      const closed = new Promise<number>((resolve) => ws.once('close', resolve));
      (ws as unknown as { _socket: Socket })._socket.write(header);
      expect([1007, 1009]).toContain(await closed);
    }
    const ws = await open();
    ws.send(stdinFrame(Buffer.from('still here')));
    await until(() => stuck.received.length === 1);
    expect(stuck.received[0]!.toString()).toBe('still here');
    ws.close();
  });

  test('stdin the process does not read stops the gateway reading the socket; once read, every byte arrives in order', async () => {
    const ws = await open();
    const frame = 64 * 1024;
    const total = 4 * 1024 * 1024;
    for (let sent = 0; sent < total; sent += frame) ws.send(stdinFrame(Buffer.alloc(frame, (sent / frame) % 251)));
    // A ping behind the data: its pong comes only once the gateway has read every frame before it.
    let ponged = false;
    ws.once('pong', () => (ponged = true));
    ws.ping();
    await until(() => raw!.isPaused() || ponged);
    expect(ponged).toBe(false);
    expect(stuck.proc.stdin.writableLength).toBeLessThan(2 * 1024 * 1024);
    stuck.release();
    await until(() => ponged && stuck.received.reduce((n, b) => n + b.length, 0) === total);
    const all = Buffer.concat(stuck.received);
    for (let at = 0; at < total; at += frame) expect(all[at]).toBe((at / frame) % 251);
    ws.close();
  });
});

/** Resolves once `done()` holds, checking every few milliseconds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}
