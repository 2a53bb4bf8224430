/** The dashboard's terminal: an xterm.js screen on an interactive exec session of the gateway. */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { openExecSession, type BrowserExecSession } from '../api/exec';
import { h, replace, type Scope } from './dom';
import { errorBox } from './widgets';

/** What a terminal session attaches to: a command run on a TTY, or the environment's console. */
export type TerminalMode = 'command' | 'console';

/** How a terminal panel starts: the environment, and the command it proposes. */
export interface TerminalOptions {
  environmentId: string;
  /** The command proposed in the form (split on blanks into an argument array). */
  command: string;
}

/** A terminal panel's body and how to say whether it may be opened now. */
export interface TerminalPanel {
  element: HTMLElement;
  /** Why the terminal cannot be opened now (not running, VIEWER role…); null: it can. An open session goes on. */
  setUnavailable(reason: string | null): void;
  /** Chooses the mode the form proposes (while no session is open): a VM's page proposes its console. */
  propose(mode: TerminalMode): void;
  /** Whether the console can be chosen: null, it can; else why not (the environment's driver has no console). */
  offerConsole(unavailable: string | null): void;
}

/**
 * A panel body with a mode (a command, or the console), a Command field and an Open button.
 * Opening runs the command in the environment with a TTY sized to the screen and follows the
 * screen's size, or attaches to the environment's console (a VM's serial console, a container's
 * main process or /dev/console; offered where the driver has one); the panel
 * shows how the session ended (exit code, or the gateway's error with its code). Close ends the
 * command, or detaches from the console. The session ends with `scope`.
 */
export function terminalPanel(scope: Scope, options: TerminalOptions): TerminalPanel {
  const status = h('p', { class: 'muted small terminal-status', role: 'status' });
  const screen = h('div', { class: 'terminal-screen', hidden: true });
  const consoleOption = h('option', { value: 'console' }, 'Attach to the console');
  const mode = h('select', { name: 'mode', 'aria-label': 'Terminal mode' }, h('option', { value: 'command' }, 'Run a command'), consoleOption);
  const command = h('input', { type: 'text', name: 'command', value: options.command, 'aria-label': 'Command to run', spellcheck: 'false', autocomplete: 'off' });
  let proposed = false;
  mode.addEventListener('change', () => {
    proposed = true;
    command.disabled = mode.value === 'console';
  });
  const open = h('button', { type: 'button', class: 'primary', 'aria-label': 'Open terminal in this environment' }, 'Open terminal');
  const close = h('button', { type: 'button', class: 'secondary', hidden: true, 'aria-label': 'Close terminal' }, 'Close');
  let session: BrowserExecSession | undefined;
  let term: Terminal | undefined;
  let observer: ResizeObserver | undefined;
  let unavailable: string | null = 'Loading…';
  const why = h('p', { class: 'muted small' });

  const teardown = () => {
    session?.close();
    session = undefined;
    observer?.disconnect();
    observer = undefined;
    close.hidden = true;
    open.disabled = unavailable !== null;
    mode.disabled = false;
    command.disabled = mode.value === 'console';
  };
  scope.add(() => {
    teardown();
    term?.dispose();
  });

  const start = () => {
    const attach = mode.value === 'console';
    const argv = command.value.trim().split(/\s+/).filter(Boolean);
    if (!attach && !argv.length) {
      replace(status, 'Give a command to run, e.g. sh.');
      return;
    }
    const what = attach ? 'the console' : argv.join(' ');
    term?.dispose();
    screen.hidden = false;
    replace(screen);
    term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 13, scrollback: 2000, screenReaderMode: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    fit.fit();
    open.disabled = true;
    mode.disabled = true;
    command.disabled = true;
    close.hidden = false;
    replace(status, `Connecting: ${what}…`);
    const shown = term;
    const current = openExecSession(
      attach ? { environment: options.environmentId, console: true } : { environment: options.environmentId, command: argv, tty: true, columns: shown.cols, rows: shown.rows },
      {
        output: (bytes) => {
          if (session === current) replace(status, attach ? 'Attached to the console. Close detaches.' : `Connected: ${what}. Close ends it.`);
          shown.write(bytes);
        },
        exit: (exitCode) => {
          replace(status, attach ? 'The console closed (the environment stopped).' : `The session ended with exit code ${exitCode}.`);
          teardown();
        },
        error: (e) => {
          replace(status, errorBox(e));
          teardown();
        },
      },
    );
    session = current;
    shown.onData((data) => current.write(data));
    if (!attach) shown.onResize(({ cols, rows }) => current.resize(cols, rows));
    observer = new ResizeObserver(() => fit.fit());
    observer.observe(screen);
    shown.focus();
  };

  open.addEventListener('click', start);
  close.addEventListener('click', () => {
    replace(status, mode.value === 'console' ? 'Detached from the console.' : 'Closed.');
    teardown();
  });
  const setUnavailable = (reason: string | null) => {
    unavailable = reason;
    replace(why, reason ?? '');
    why.hidden = reason === null;
    if (!session) open.disabled = reason !== null;
  };
  const propose = (wanted: TerminalMode) => {
    if (proposed || session) return;
    mode.value = wanted;
    command.disabled = wanted === 'console';
  };
  const noConsole = h('p', { class: 'muted small', hidden: true });
  const offerConsole = (reason: string | null) => {
    consoleOption.disabled = reason !== null;
    replace(noConsole, reason ?? '');
    noConsole.hidden = reason === null;
    if (reason !== null && mode.value === 'console' && !session) {
      mode.value = 'command';
      command.disabled = false;
    }
  };
  setUnavailable(unavailable);
  return { element: h('div', { class: 'terminal' }, h('div', { class: 'terminal-bar' }, mode, h('label', null, 'Command ', command), open, close), why, noConsole, status, screen), setUnavailable, propose, offerConsole };
}
