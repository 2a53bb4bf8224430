import { ConflictError } from '../errors';

/**
 * What stops a removal, gathered before anything changes: every reason at once, so the caller
 * sees the whole list and nothing is half-removed. `refuse` throws one CONFLICT naming them all
 * (`details.blockers` holds the list).
 */
export class Blockers {
  private readonly reasons: string[] = [];

  /** Adds a reason. */
  add(reason: string): void {
    this.reasons.push(reason);
  }

  /** The reasons gathered so far. */
  get list(): readonly string[] {
    return this.reasons;
  }

  /** CONFLICT `<what> : <reason>; <reason>…` when anything blocks; nothing otherwise. */
  refuse(what: string): void {
    if (!this.reasons.length) return;
    throw new ConflictError(`${what}: ${this.reasons.join('; ')}`, { blockers: [...this.reasons] });
  }
}

/**
 * How a removal names an object of some group to the caller: by name when the caller may see
 * that group's objects, else only as "of another group" (no private names leak).
 */
export function nameFor(visible: boolean, kind: string, name: string): string {
  return visible ? `${kind} ${name}` : `a ${kind} of another group`;
}
