import type { Duplex } from 'node:stream';

const EMPTY = Buffer.alloc(0);

/** Bytes of a message's payload its verdict is given on (an answer's `{"type":"result","id":"…"` head is well within them). */
export const GATE_HEAD_BYTES = 64;

/**
 * What becomes of a message, told from its declared length and its first bytes before any more of
 * it is read: a number lets it through (the bound its later fragments are held to), null drops it
 * whole (its bytes never reach the WebSocket; the judge dealt with it), a string drops it and closes
 * the connection with that reason (the caller's `close`).
 */
export type GateVerdict = number | null | string;

/** Judges a message: `declared` bytes in its first frame, `head` its first GATE_HEAD_BYTES (fewer when it is shorter). */
export type GateJudge = (declared: number, head: Buffer) => GateVerdict;

/** The gate of a connection: its judge may change as the connection goes (before and after its welcome). */
export interface FrameGate {
  judge: GateJudge;
  /** Stops handing bytes to the WebSocket (it failed: ws stops reading, and drains the socket); what comes is discarded. */
  stop(): void;
}

/**
 * Puts a gate between the raw bytes of a WebSocket's connection (`socket`, as the server's upgrade
 * gave it) and the WebSocket reading them (the `data` listeners on it now: ws's receiver): each data
 * message is judged from its frame header and its first bytes, before ws buffers it (ws reads a
 * whole message, up to its maxPayload, before anyone sees it). So a peer declaring a message over
 * what it may send makes the gateway hold no more than a frame header and GATE_HEAD_BYTES of it:
 * the message is dropped (its bytes swallowed as they come) or the connection closed (`close`).
 * Control frames (ping, pong, close) always go through, so a closing handshake completes. Call it
 * at the upgrade, before any byte of the connection is read (a frame boundary).
 */
export function gateFrames(socket: Duplex, judge: GateJudge, close: (reason: string) => void): FrameGate {
  let stopped = false;
  const gate: FrameGate = { judge, stop: () => void (stopped = true) };
  const readers = socket.listeners('data') as Array<(chunk: Buffer) => void>;
  for (const reader of readers) socket.off('data', reader);
  const forward = (bytes: Buffer) => {
    if (bytes.length && !stopped) for (const reader of readers) reader.call(socket, bytes);
  };
  /** Bytes of the current frame's header (and, for a message's first frame, the head of its payload) held back until judged. */
  let pending = EMPTY;
  /** Payload bytes of the current frame still to come, and whether they go through. */
  let remaining = 0;
  let passing = true;
  /** Whether a data message is under way (its continuation frames follow its verdict), its verdict, and its bytes so far. */
  let inMessage = false;
  let messagePasses = true;
  let messageBound = 0;
  let messageBytes = 0;
  /** Once closed by a verdict, data messages are all dropped; control frames still go through. */
  let closed = false;

  const refuse = (reason: string) => {
    messagePasses = false;
    if (closed) return;
    closed = true;
    close(reason);
  };

  /** The header of the frame at the start of `bytes`: its size, or undefined while incomplete. */
  const headerOf = (bytes: Buffer): { size: number; opcode: number; fin: boolean; length: number; mask?: Buffer } | undefined => {
    if (bytes.length < 2) return undefined;
    const fin = (bytes[0] & 0x80) !== 0;
    const opcode = bytes[0] & 0x0f;
    const masked = (bytes[1] & 0x80) !== 0;
    let length = bytes[1] & 0x7f;
    let size = 2;
    if (length === 126) {
      if (bytes.length < 4) return undefined;
      length = bytes.readUInt16BE(2);
      size = 4;
    } else if (length === 127) {
      if (bytes.length < 10) return undefined;
      // Beyond 2^53 ws refuses the frame itself; as a number it is still far over any bound.
      length = Number(bytes.readBigUInt64BE(2));
      size = 10;
    }
    if (masked) {
      if (bytes.length < size + 4) return undefined;
      return { size: size + 4, opcode, fin, length, mask: bytes.subarray(size, size + 4) };
    }
    return { size, opcode, fin, length };
  };

  const unmask = (payload: Buffer, mask: Buffer | undefined): Buffer => {
    if (!mask) return payload;
    const out = Buffer.from(payload);
    for (let i = 0; i < out.length; i++) out[i] ^= mask[i & 3];
    return out;
  };

  socket.on('data', (chunk: Buffer) => {
    let input = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = EMPTY;
    const out: Buffer[] = [];
    while (input.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, input.length);
        if (passing) out.push(input.subarray(0, take));
        remaining -= take;
        input = input.subarray(take);
        continue;
      }
      // A new frame: its header, and for a message's first frame the head of its payload, are held until judged.
      const header = headerOf(input);
      const control = header !== undefined && header.opcode >= 0x8;
      const starts = header !== undefined && !control && header.opcode !== 0x0;
      if (!header || (starts && input.length < header.size + Math.min(GATE_HEAD_BYTES, header.length))) {
        pending = Buffer.from(input);
        break;
      }
      if (starts) {
        const head = unmask(input.subarray(header.size, header.size + Math.min(GATE_HEAD_BYTES, header.length)), header.mask);
        const verdict = closed ? null : gate.judge(header.length, head);
        inMessage = !header.fin;
        messageBytes = header.length;
        if (typeof verdict === 'number') {
          messagePasses = true;
          messageBound = verdict;
        } else if (verdict === null) messagePasses = false;
        else refuse(verdict);
        passing = messagePasses;
      } else if (control) passing = true;
      else {
        // A continuation: its message's verdict, and its bound for the bytes so far.
        messageBytes += header.length;
        if (inMessage && messagePasses && messageBytes > messageBound) refuse(`message of more than ${messageBound} bytes (fragmented)`);
        passing = inMessage ? messagePasses : true;
        if (header.fin) inMessage = false;
      }
      if (passing) out.push(input.subarray(0, header.size));
      remaining = header.length;
      input = input.subarray(header.size);
    }
    forward(out.length === 1 ? out[0] : Buffer.concat(out));
  });

  return gate;
}
