import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli';

/** One command line of a README walkthrough: where it runs, as written, and its words. */
export interface ReadmeStep {
  /** The machine of the last `# On machine N…` comment before it. */
  machine: number;
  /** The line without its trailing comment. */
  line: string;
  /** The shell words (`"…"` quoted words kept whole, quotes removed). */
  words: string[];
}

/** The text of the README section (`##` or `###`) whose title starts with `title`, up to the next title of any level. */
export function readmeSection(title: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.split('\n').findIndex((l) => /^#{2,3} /.test(l) && l.replace(/^#+ /, '').startsWith(title));
  if (start < 0) throw new Error(`README.md has no section "${title}"`);
  const lines = readme.split('\n').slice(start + 1);
  const end = lines.findIndex((l) => /^#{2,3} /.test(l));
  return lines.slice(0, end < 0 ? undefined : end).join('\n');
}

/** Splits a shell line into words: spaces separate, `"…"` keeps a word whole. */
export function shellWords(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * The commands of a section's ```sh blocks, in order: comment lines `# On machine N…` set the
 * machine of the lines after them, other comments are skipped, a trailing `   # …` is dropped.
 */
export function walkthroughSteps(title: string): ReadmeStep[] {
  const steps: ReadmeStep[] = [];
  let machine = 1;
  for (const block of readmeSection(title).matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      const trimmed = raw.trim();
      const on = /^# On machine (\d+)/.exec(trimmed);
      if (on) machine = Number(on[1]);
      if (!trimmed || trimmed.startsWith('#')) continue;
      const line = trimmed.replace(/\s{2,}#.*$/, '');
      steps.push({ machine, line, words: shellWords(line) });
    }
  }
  return steps;
}
