import { BadInputError } from '../errors';
import { assertPlainData } from './plain-data';
import type { AgentFrame } from './protocol';

/** A frame as JSON text; INTERNAL when anything in it is not plain data (see `assertPlainData`). */
export function encodeFrame(frame: AgentFrame): string {
  assertPlainData(frame);
  return JSON.stringify(frame);
}

/**
 * JSON text of a frame this side built from typed plain data (the gateway's heartbeat answers):
 * no walk of `assertPlainData`, which is for frames carrying values of drivers and callers.
 */
export function encodeBuiltFrame(frame: AgentFrame): string {
  return JSON.stringify(frame);
}

/**
 * The frame in JSON text; BAD_USER_INPUT (with the id when it can be read) when it is not one.
 * `parsed` is the text's JSON when the channel already read it (it is then not parsed again).
 */
export function decodeFrame(text: string, parsed?: unknown): AgentFrame {
  let value: unknown = parsed;
  if (value === undefined) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new BadInputError(`An agent frame is not JSON: ${(e as Error).message}`);
    }
  }
  const frame = value as Partial<AgentFrame> | null;
  const id = frame && typeof frame === 'object' && typeof frame.id === 'string' ? frame.id : null;
  const malformed = (problem: string): never => {
    throw new BadInputError(`Malformed agent frame: ${problem}`, { id });
  };
  if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return malformed('not a JSON object');
  if (frame.type === 'request') {
    if (id === null) malformed('a request needs a string id');
    if (typeof frame.method !== 'string') malformed('a request needs a method name');
    if (typeof frame.protocol !== 'number') malformed('a request needs the protocol version it speaks');
    const context = frame.context as { operationId?: unknown; deadline?: unknown } | undefined;
    if (!context || typeof context.operationId !== 'string' || !context.operationId) malformed('a request needs a context with an operationId');
    if (context!.deadline !== undefined && typeof context!.deadline !== 'string') malformed('a deadline is an ISO 8601 string');
    return frame as AgentFrame;
  }
  if (frame.type === 'result') {
    if (id === null) malformed('a result needs the id of its request');
    return frame as AgentFrame;
  }
  if (frame.type === 'error') {
    const error = frame.error as { category?: unknown; message?: unknown } | undefined;
    if (!error || typeof error.category !== 'string' || typeof error.message !== 'string') malformed('an error needs a category and a message');
    return { ...frame, id } as AgentFrame;
  }
  return malformed(`unknown frame type ${JSON.stringify(frame.type)}`);
}
