import type { Command } from 'commander';

/** The command a word was given to as a subcommand, and that word. */
export interface UnknownCommand {
  command: Command;
  name: string;
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
