/**
 * A revert stack, after Incus: every step that creates something registers its undo; on failure
 * the undos run newest first; on success they are dropped.
 *
 * ```ts
 * const revert = new Revert();
 * try {
 *   await makeVolume(); revert.add(() => removeVolume());
 *   await makeContainer(); revert.add(() => removeContainer());
 *   revert.success();
 * } finally {
 *   await revert.run();
 * }
 * ```
 */
export class Revert {
  private steps: Array<() => Promise<unknown> | unknown> = [];

  /** Registers the undo of a step that just succeeded. */
  add(undo: () => Promise<unknown> | unknown): void {
    this.steps.push(undo);
  }

  /** Drops every undo: the whole sequence succeeded. */
  success(): void {
    this.steps = [];
  }

  /** Runs the undos still registered, newest first; their own errors are collected, not thrown. */
  async run(): Promise<unknown[]> {
    const errors: unknown[] = [];
    while (this.steps.length) {
      const undo = this.steps.pop()!;
      try {
        await undo();
      } catch (e) {
        errors.push(e);
      }
    }
    return errors;
  }
}
