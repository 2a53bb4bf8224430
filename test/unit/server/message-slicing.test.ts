import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { MESSAGES_WAITING_PER_SOCKET, sliceMessages } from '../../../gateway/server/message-slicing';
import { TurnSlices } from '../../../gateway/server/turn-slices';

/** What sliceMessages uses of a ws socket: its events, state and pause/resume. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  isPaused = false;
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.isPaused = true;
    this.pauses++;
  }
  resume(): void {
    this.isPaused = false;
    this.resumes++;
  }
}

/** A fake socket whose messages go through `slices`, each logged as `<name>:<message>`. */
function socket(name: string, slices: TurnSlices, log: string[]): FakeSocket {
  const ws = new FakeSocket();
  sliceMessages(ws as unknown as WebSocket, slices);
  ws.on('message', (data: string) => log.push(`${name}:${data}`));
  return ws;
}

/** Resolves once everything queued in `slices` before it has run. */
const drained = (slices: TurnSlices) => slices.run(async () => undefined);

describe("graphql-ws sockets' messages handled so many per turn of the event loop", () => {
  test("the first of a turn at once, the rest in slices shared by the sockets, each socket's in the order they came, other callbacks run between slices", async () => {
    const slices = new TurnSlices(2);
    const log: string[] = [];
    const a = socket('a', slices, log);
    const b = socket('b', slices, log);
    a.emit('message', '1');
    a.emit('message', '2');
    a.emit('message', '3');
    b.emit('message', '1');
    a.emit('message', '4');
    expect(log).toEqual(['a:1', 'a:2']);
    setImmediate(() => log.push('other'));
    await drained(slices);
    expect(log).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'other', 'a:4']);
  });

  test('other events pass at once; a message still waiting when its socket closes is dropped', async () => {
    const slices = new TurnSlices(1);
    const log: string[] = [];
    const a = socket('a', slices, log);
    a.on('close', () => log.push('closed'));
    a.emit('message', '1');
    a.emit('message', '2');
    a.readyState = 3;
    a.emit('close');
    await drained(slices);
    expect(log).toEqual(['a:1', 'closed']);
  });

  test('a socket with too many messages waiting stops reading until they are all handled', async () => {
    const slices = new TurnSlices(1);
    const log: string[] = [];
    const a = socket('a', slices, log);
    // The first is handled at once; the rest wait.
    for (let i = 0; i <= MESSAGES_WAITING_PER_SOCKET + 1; i++) a.emit('message', String(i));
    expect(a.pauses).toBe(1);
    expect(a.isPaused).toBe(true);
    await drained(slices);
    expect(log).toHaveLength(MESSAGES_WAITING_PER_SOCKET + 2);
    expect(a.resumes).toBe(1);
    expect(a.isPaused).toBe(false);
  });
});
