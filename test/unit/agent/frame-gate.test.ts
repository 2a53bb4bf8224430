import { PassThrough } from 'node:stream';
import { gateFrames } from '../../../gateway/agent/remote/frame-gate';

/** A masked client frame (`opcode`, `fin`) carrying `payload`. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([header, mask, masked]);
}

/** What reaches the WebSocket's reader when `bytes` come in `size`-byte chunks through a gate judging with `judge`. */
function through(bytes: Buffer, size: number, judge: (declared: number, head: Buffer) => number | null | string) {
  const socket = new PassThrough();
  const read: Buffer[] = [];
  socket.on('data', (b: Buffer) => read.push(b));
  const closes: string[] = [];
  const heads: string[] = [];
  gateFrames(socket, (declared, head) => (heads.push(head.toString()), judge(declared, head)), (reason) => closes.push(reason));
  for (let at = 0; at < bytes.length; at += size) socket.emit('data', bytes.subarray(at, at + size));
  return { read: Buffer.concat(read), closes, heads };
}

/** The frame gate (frame-gate.ts) judges each message from its header and first bytes, however the bytes come in. */
describe('frame gate', () => {
  const small = frame(1, Buffer.from('{"type":"result","id":"1","result":null}'));
  const big = frame(1, Buffer.from(`{"type":"result","id":"2","result":"${'x'.repeat(300)}"}`));
  const ping = frame(9, Buffer.from('p'));
  const firstPart = frame(1, Buffer.from('{"type":"result","id":"3",'), false);
  const lastPart = frame(0, Buffer.from('"result":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}'));
  const judge = (declared: number, head: Buffer) => (head.toString().includes('"id":"2"') ? null : declared > 200 ? 'too big' : 100);

  test.each([1, 3, 7, 64, 4096])('in chunks of %i bytes: a dropped message never reaches the reader, the others and control frames whole', (size) => {
    const { read, closes, heads } = through(Buffer.concat([small, big, ping, small]), size, judge);
    expect(read.equals(Buffer.concat([small, ping, small]))).toBe(true);
    expect(closes).toEqual([]);
    expect(heads.map((h) => /"id":"(\d)"/.exec(h)?.[1])).toEqual(['1', '2', '1']);
  });

  test.each([1, 5, 4096])('in chunks of %i bytes: a fragmented message is held to its bound over its fragments; a message over its bound closes, and later ones are dropped', (size) => {
    const whole = through(Buffer.concat([firstPart, ping, lastPart, small]), size, () => 100);
    expect(whole.closes).toEqual([]);
    expect(whole.read.equals(Buffer.concat([firstPart, ping, lastPart, small]))).toBe(true);
    const over = through(Buffer.concat([firstPart, ping, lastPart, small]), size, () => 50);
    expect(over.closes).toEqual(['message of more than 50 bytes (fragmented)']);
    expect(over.read.equals(Buffer.concat([firstPart, ping]))).toBe(true);
    const closed = through(Buffer.concat([frame(1, Buffer.from('z'.repeat(300))), ping, small]), size, judge);
    expect(closed.closes).toEqual(['too big']);
    expect(closed.read.equals(ping)).toBe(true);
  });
});
