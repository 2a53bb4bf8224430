import WebSocket from 'ws';
import { textFrames } from '../../../gateway/server/shared-execution';

/** ws's frame parser (exported by the package at run time, not by its types). */
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer) => void): void;
  write(chunk: Buffer): void;
}
const Receiver = (WebSocket as unknown as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => FrameReceiver }).Receiver;

/** What a WebSocket client reads from `bytes`: its messages, in order. */
function read(bytes: Buffer): string[] {
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  const got: string[] = [];
  receiver.on('message', (data: Buffer) => got.push(data.toString('utf8')));
  receiver.write(bytes);
  return got;
}

describe('text frames written by the shared subscription path', () => {
  test('a client reads every frame of a batch back, parts joined, at each length encoding (7-bit, 16-bit, 64-bit) and with multi-byte characters', () => {
    const texts = ['', '{"id":"1","type":"next","payload":{"data":{"hé":"ünïcode ✓"}}}', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65535), 'é'.repeat(40000)];
    // Each text cut in two parts (a subscription's head, the shared payload), at a character boundary.
    const frames = texts.map((text) => [Buffer.from(text.slice(0, 10)), Buffer.from(text.slice(10))]);
    expect(read(textFrames(frames.flat()))).toEqual(texts);
  });
});
