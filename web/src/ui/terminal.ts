/** The dashboard's terminal: an xterm.js screen on an interactive exec session of the gateway. */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { openExecSession, type BrowserExecSession } from '../api/exec';
import { h, replace, type Scope } from './dom';
import { errorBox } from './widgets';

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
}

/**
 * A panel body with a Command field and an Open button; opening runs the command in the
 * environment with a TTY sized to the screen, follows the screen's size, and shows how the
 * session ended (exit code, or the gateway's error with its code). The session ends with `scope`.
 */
export function terminalPanel(scope: Scope, options: TerminalOptions): TerminalPanel {
  const status = h('p', { class: 'muted small terminal-status', role: 'status' });
  const screen = h('div', { class: 'terminal-screen', hidden: true });
  const command = h('input', { type: 'text', name: 'command', value: options.command, 'aria-label': 'Command to run', spellcheck: 'false', autocomplete: 'off' });
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
    command.disabled = false;
  };
  scope.add(() => {
    teardown();
    term?.dispose();
  });

  const start = () => {
    const argv = command.value.trim().split(/\s+/).filter(Boolean);
    if (!argv.length) {
      replace(status, 'Give a command to run, e.g. sh.');
      return;
    }
    term?.dispose();
    screen.hidden = false;
    replace(screen);
    term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 13, scrollback: 2000, screenReaderMode: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    fit.fit();
    open.disabled = true;
    command.disabled = true;
    close.hidden = false;
    replace(status, `Connecting: ${argv.join(' ')}…`);
    const shown = term;
    const current = openExecSession(
      { environment: options.environmentId, command: argv, tty: true, columns: shown.cols, rows: shown.rows },
      {
        output: (bytes) => {
          if (session === current) replace(status, `Connected: ${argv.join(' ')}. Close ends it.`);
          shown.write(bytes);
        },
        exit: (exitCode) => {
          replace(status, `The session ended with exit code ${exitCode}.`);
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
    shown.onResize(({ cols, rows }) => current.resize(cols, rows));
    observer = new ResizeObserver(() => fit.fit());
    observer.observe(screen);
    shown.focus();
  };

  open.addEventListener('click', start);
  close.addEventListener('click', () => {
    replace(status, 'Closed.');
    teardown();
  });
  const setUnavailable = (reason: string | null) => {
    unavailable = reason;
    replace(why, reason ?? '');
    why.hidden = reason === null;
    if (!session) open.disabled = reason !== null;
  };
  setUnavailable(unavailable);
  return { element: h('div', { class: 'terminal' }, h('div', { class: 'terminal-bar' }, h('label', null, 'Command ', command), open, close), why, status, screen), setUnavailable };
}
