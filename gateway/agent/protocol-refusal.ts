import { UnsupportedOperationError } from '../errors';
import { methodSince, OLDEST_AGENT_PROTOCOL_VERSION, rangeText } from './protocol';

/**
 * Why a request frame cannot be taken on a connection of version `protocol` (the receiver's end,
 * `by`), or undefined: a version the connection does not speak (newer than it, or older than
 * this code's oldest), or a call that came in a later version than the frame's (per `table`,
 * `AGENT_METHOD_SINCE` or `UPSTREAM_METHOD_SINCE`). A call no version has is left to the caller.
 */
export function protocolRefusal(table: Readonly<Record<string, number>>, frame: { protocol: number; method: string }, protocol: number, by: string): UnsupportedOperationError | undefined {
  if (frame.protocol > protocol || frame.protocol < OLDEST_AGENT_PROTOCOL_VERSION) {
    const older = frame.protocol < OLDEST_AGENT_PROTOCOL_VERSION;
    return new UnsupportedOperationError(`agent protocol ${frame.protocol}`, by, `it speaks protocol ${rangeText({ oldest: OLDEST_AGENT_PROTOCOL_VERSION, newest: protocol })} on this connection; upgrade the ${older ? 'caller' : 'receiver'}`);
  }
  const since = methodSince(table, frame.method);
  if (since !== undefined && since > frame.protocol) return new UnsupportedOperationError(frame.method, by, `${frame.method} came in agent protocol ${since}, the call is of protocol ${frame.protocol}`);
  return undefined;
}
