import type { Command } from 'commander';
import { CliError, ExitCode } from '../exit-codes';

/** Every command path and its options, from the program's own definition. */
function commandTree(cmd: Command, prefix = ''): Array<{ path: string; words: string[] }> {
  const subs = cmd.commands.map((c) => c.name());
  const options = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
  const here = { path: prefix, words: [...subs, ...options, '--help'] };
  return [here, ...cmd.commands.flatMap((c) => commandTree(c, prefix ? `${prefix} ${c.name()}` : c.name()))];
}

/** A bash completion script: completes command names and options at each level. */
export function bashCompletion(program: Command): string {
  const cases = commandTree(program)
    .map(({ path, words }) => `    "${path}") words="${words.join(' ')}" ;;`)
    .join('\n');
  return `# rsp bash completion: source <(rsp completion bash)
_rsp_complete() {
  local cur path="" w words i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_rsp_words "\${path}") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  words="$(_rsp_words "$path")"
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
_rsp_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo "$words"
}
complete -F _rsp_complete rsp
`;
}

/** A zsh completion script, through bash completion compatibility. */
function zshCompletion(program: Command): string {
  return `# rsp zsh completion: source <(rsp completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

/** `rsp completion bash|zsh`. */
export function registerCompletion(program: Command): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script (bash or zsh): source <(rsp completion bash)')
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') process.stdout.write(zshCompletion(program));
      else throw new CliError(`unknown shell "${shell}" (bash or zsh)`, 'BAD_USAGE', ExitCode.BAD_USAGE);
    });
}
