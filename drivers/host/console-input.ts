import { Writable } from 'node:stream';

/**
 * A console session's standard input: each chunk written is typed into `target` (through
 * `encode` when given) and done once `target` took it; a chunk written once `target` is no
 * longer writable is dropped. Its end is not passed on: ending a console's input never detaches
 * it (only the session's `kill` does).
 */
export function consoleInput(target: NodeJS.WritableStream, encode: (chunk: Buffer) => Buffer = (chunk) => chunk): Writable {
  return new Writable({
    write: (chunk: Buffer, _encoding, done) => (target.writable ? target.write(encode(chunk), () => done()) : done()),
    final: (done) => done(),
  });
}
