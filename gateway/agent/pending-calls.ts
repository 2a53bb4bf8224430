import { decodeFrame } from './frame-codec';
import { fromWireError } from './wire-error';

/** A request sent over a frame channel and not answered yet. */
export interface PendingCall {
  method: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** Fails the call when its deadline passes; cleared when it is settled. */
  timer?: NodeJS.Timeout;
}

/**
 * The calls one side has in flight over frame channels, by request id: an answer frame settles
 * the call it names (a result resolves it, an error rejects it with the RspError of its category),
 * and a closed channel fails them all. Shared by every client of the agent protocol.
 */
export class PendingCalls {
  private readonly calls = new Map<string, PendingCall>();
  private next = 0;

  /** A request id not used before by this side. */
  nextId(): string {
    return String(++this.next);
  }

  /** Waits for the answer to request `id`. */
  add(id: string, call: PendingCall): void {
    this.calls.set(id, call);
  }

  /** The method of call `id` while it is in flight; undefined otherwise. */
  methodOf(id: string): string | undefined {
    return this.calls.get(id)?.method;
  }

  /** Takes the call out of flight (and stops its timer); undefined when it is not in flight. */
  settle(id: string): PendingCall | undefined {
    const call = this.calls.get(id);
    if (!call) return undefined;
    this.calls.delete(id);
    clearTimeout(call.timer);
    return call;
  }

  /**
   * Settles the call an answer frame names. Unreadable frames, requests and error answers about a
   * frame the other side could not read (a client sends only well-formed ones) settle no call.
   * `parsed` is the text's JSON when the channel already read it.
   */
  receive(text: string, parsed?: unknown): void {
    let frame;
    try {
      frame = decodeFrame(text, parsed);
    } catch {
      return;
    }
    if (frame.type === 'request' || frame.id === null) return;
    const call = this.settle(frame.id);
    if (!call) return;
    if (frame.type === 'result') call.resolve(frame.result ?? undefined);
    else call.reject(fromWireError(frame.error));
  }

  /** Fails every call in flight with the error `errorFor` makes for it. */
  failAll(errorFor: (call: PendingCall) => Error): void {
    for (const id of [...this.calls.keys()]) {
      const call = this.settle(id)!;
      call.reject(errorFor(call));
    }
  }
}
