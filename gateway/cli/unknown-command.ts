import type { Command } from 'commander';

/** The command a word was given to as a subcommand, and that word. */
export interface UnknownCommand {
  command: Command;
  name: string;
}

/**
 * The error line for an unknown subcommand: with the subcommands it may be a typo of
 * (`rsp env lst`: did you mean 'list'?), and where the right names are listed.
 */
export function unknownCommandMessage(unknown: UnknownCommand): string {
  const near = similarSubcommands(unknown.command, unknown.name);
  const hint = near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(' or ')}?` : '';
  return `error: unknown command '${unknown.name}'${hint} (see '${commandPath(unknown.command)} --help')`;
}

/** The subcommand names (aliases too) within two edits of `word`, or that it begins; closest first. */
function similarSubcommands(command: Command, word: string): string[] {
  const names = command.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const scored = names.map((name) => ({ name, d: name.startsWith(word) && word.length >= 2 ? 0 : editDistance(word.toLowerCase(), name) })).filter((x) => x.d <= Math.min(2, Math.floor(x.name.length / 2)));
  return scored.sort((a, b) => a.d - b.d || a.name.localeCompare(b.name)).slice(0, 3).map((x) => x.name);
}

/** Levenshtein distance, adjacent swaps counting one (lsit → list). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The first word of `args` given where a subcommand is expected that names none (`rsp frobnicate`,
 * `rsp image frobnicate --help`, `rsp help frobnicate`), or undefined. Commander shows the help of
 * the command when `--help` comes with an unknown word (exit 0): this looks first. Options are
 * skipped with their values; an option no command in the path knows stops the search (Commander
 * reports it), as do `--` and the operands of a command without subcommands.
 */
export function unknownCommandOf(program: Command, args: readonly string[]): UnknownCommand | undefined {
  let command = program;
  const path: Command[] = [program];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (arg.startsWith('-') && arg.length > 1) {
      if (arg === '-h' || arg === '--help') continue;
      const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), true] : [arg, false];
      const option = path.flatMap((c) => c.options).find((o) => o.long === flag || o.short === flag);
      if (!option) return undefined;
      const next = args[i + 1];
      if (!inline && (option.required || (option.optional && next !== undefined && !next.startsWith('-')))) i++;
      continue;
    }
    if (command.commands.length === 0) return undefined;
    const sub = subcommandNamed(command, arg);
    if (sub) {
      command = sub;
      path.push(sub);
      continue;
    }
    if (arg === 'help') {
      const topic = args[i + 1];
      return topic !== undefined && !topic.startsWith('-') && !subcommandNamed(command, topic) ? { command, name: topic } : undefined;
    }
    return { command, name: arg };
  }
  return undefined;
}

/** The full name of a command, e.g. `rsp image`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function subcommandNamed(command: Command, name: string): Command | undefined {
  return command.commands.find((c) => c.name() === name || c.aliases().includes(name));
}
