import type { Operation } from './client';
import { printable } from './output';

/**
 * A progress bar on stderr for an operation, fed by `operationUpdated`. On a terminal it
 * redraws one line; elsewhere (logs, CI) it prints a line only when the state or message
 * changes, so stdout stays clean for the result.
 */
export class ProgressBar {
  private last = '';
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(op: Operation): void {
    const pct = Math.round(Math.max(0, Math.min(1, op.progress)) * 100);
    const text = printable(`${op.state}${op.message ? ` ${op.message}` : ''}`);
    if (this.stream.isTTY) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${text}`;
      const columns = this.stream.columns || 100;
      this.stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, this.last.length))}`);
      this.last = line;
      this.drawn = true;
    } else if (text !== this.last) {
      this.stream.write(`${this.label}: ${String(pct).padStart(3)}% ${text}\n`);
      this.last = text;
    }
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
