import type { Command, Option } from 'commander';

/** The command a word was given to as a subcommand, and that word. */
export interface UnknownCommand {
  command: Command;
  name: string;
}

/** An option no command on the way knows (`--hots`), and the command it was given to. */
export interface UnknownOption {
  command: Command;
  flag: string;
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

/**
 * The error line for an unknown option: with the options of the command (and its parents') it may
 * be a typo of (`--hots`: did you mean '--host'?), and where the right names are listed.
 */
export function unknownOptionMessage(unknown: UnknownOption): string {
  const flags = pathOf(unknown.command).flatMap((c) => c.options.flatMap((o) => (o.long ? [o.long] : [])));
  const near = unknown.flag.startsWith('--') ? similar([...flags, '--help'], unknown.flag) : [];
  const hint = near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(' or ')}?` : '';
  return `error: unknown option '${unknown.flag}'${hint} (see '${commandPath(unknown.command)} --help')`;
}

/** The subcommand names (aliases too) within two edits of `word`, or that it begins; closest first. */
function similarSubcommands(command: Command, word: string): string[] {
  return similar(
    command.commands.flatMap((c) => [c.name(), ...c.aliases()]),
    word,
  );
}

/** The `names` within two edits of `word` (at most half their length), or that it begins; closest first. */
function similar(names: string[], word: string): string[] {
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
  const found = usageProblemOf(program, args);
  return found && 'name' in found ? found : undefined;
}

/**
 * The first option of `args` no command on the way (nor, before the last subcommand is reached,
 * any command below) knows, or undefined. Commander reports a missing required option or argument
 * before an unknown one, so `rsp env create web --hots h` said `--host` was missing; the typo is
 * what to fix, and is said first, with what it may be.
 */
export function unknownOptionOf(program: Command, args: readonly string[]): UnknownOption | undefined {
  const found = usageProblemOf(program, args);
  return found && 'flag' in found ? found : undefined;
}

/** The first unknown subcommand or option of `args`, walking them as Commander will. */
function usageProblemOf(program: Command, args: readonly string[]): UnknownCommand | UnknownOption | undefined {
  let command = program;
  const path: Command[] = [program];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (arg.startsWith('-') && arg.length > 1) {
      if (arg === '-h' || arg === '--help') continue;
      const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), true] : [arg, false];
      const option = optionNamed(path, flag);
      if (!option) return acceptsAnyOption(path) || knownBelow(command, flag) ? undefined : { command, flag };
      // -n5: the value is in the flag; -abc: grouped flags.
      const grouped = !flag.startsWith('--') && flag.length > 2;
      const next = args[i + 1];
      if (!inline && !grouped && (option.required || (option.optional && next !== undefined && !next.startsWith('-')))) i++;
      // A variadic option takes the words after it, up to the next option.
      if (option.variadic) while (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) i++;
      continue;
    }
    // An operand: the options after it are still checked.
    if (command.commands.length === 0) continue;
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

/** The option `flag` names among `commands`' (`-abc`: its first letter's, as Commander reads grouped short flags). */
function optionNamed(commands: Command[], flag: string): Option | undefined {
  const options = commands.flatMap((c) => c.options);
  const exact = options.find((o) => o.long === flag || o.short === flag);
  if (exact || flag.startsWith('--')) return exact;
  return options.find((o) => o.short === flag.slice(0, 2));
}

/** Whether a command on the way takes options it does not declare (Commander then passes them on). */
function acceptsAnyOption(commands: Command[]): boolean {
  return commands.some((c) => (c as unknown as { _allowUnknownOption?: boolean; _passThroughOptions?: boolean })._allowUnknownOption || (c as unknown as { _passThroughOptions?: boolean })._passThroughOptions);
}

/** Whether a command below `command` declares `flag` (given before its subcommand's name, Commander still hands it on). */
function knownBelow(command: Command, flag: string): boolean {
  return command.commands.some((sub) => optionNamed([sub], flag) !== undefined || knownBelow(sub, flag));
}

/** `command` and its parents, the root first. */
function pathOf(command: Command): Command[] {
  const path: Command[] = [];
  for (let c: Command | null = command; c; c = c.parent) path.unshift(c);
  return path;
}

function subcommandNamed(command: Command, name: string): Command | undefined {
  return command.commands.find((c) => c.name() === name || c.aliases().includes(name));
}
