import { RspError } from '../../errors';

/** The largest frame relayed between replicas by default: 16 MiB (bulk data moves as chunks in several calls). */
export const DEFAULT_MAX_RELAY_FRAME_BYTES = 16 * 1024 * 1024;

/** A frame of the agent protocol on its way between two replicas. */
export interface RelayEnvelope {
  /** The replica that sent it (answers go back to its reply channel). */
  from: string;
  /** The agent the call is for (or the answer is from). */
  agent: string;
  /** The agent protocol frame, as JSON text. */
  frame: string;
}

/** A frame over the relay's size cap: refused before it is sent, with what to do instead. */
export class RelayFrameTooLargeError extends RspError {
  constructor(bytes: number, maxBytes: number, agent: string) {
    super(
      'BAD_USER_INPUT',
      `A call to host agent ${agent} through another gateway replica is ${bytes} bytes, over the ${maxBytes}-byte frame cap of the relay (RSP_RELAY_MAX_FRAME_BYTES): send bulk data as chunks in smaller calls`,
      { agent, bytes, maxBytes },
    );
  }
}

/** The envelope as text; RelayFrameTooLargeError when it exceeds `maxBytes`. */
export function encodeEnvelope(envelope: RelayEnvelope, maxBytes: number): string {
  const text = JSON.stringify(envelope);
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new RelayFrameTooLargeError(bytes, maxBytes, envelope.agent);
  return text;
}

/** The envelope in `text`, or undefined when it is not one (it is dropped). */
export function decodeEnvelope(text: string): RelayEnvelope | undefined {
  try {
    const value = JSON.parse(text) as Partial<RelayEnvelope> | null;
    if (!value || typeof value.from !== 'string' || typeof value.agent !== 'string' || typeof value.frame !== 'string') return undefined;
    return value as RelayEnvelope;
  } catch {
    return undefined;
  }
}
