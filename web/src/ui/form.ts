import { GraphQLRequestError } from '../api/graphql';
import { Attrs, Child, h, replace } from './dom';
import { errorBox } from './widgets';

/** A form control the helpers label. */
export type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

let nextId = 0;

/** A fresh element id for a label's `for`. */
function freshId(name: string): string {
  return `f-${name}-${++nextId}`;
}

/**
 * A labelled field: the label (tied to the control by id), the control and an optional hint
 * (tied by aria-describedby), so screen readers and `getByLabel` find it.
 */
export function field(label: string, control: Control, hint?: string): HTMLElement {
  if (!control.id) control.id = freshId(control.name || 'field');
  const hintEl = hint ? h('small', { class: 'muted field-hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  if (control instanceof HTMLInputElement && control.type === 'checkbox') {
    return h('div', { class: 'field field-check' }, control, h('label', { for: control.id }, label), hintEl);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** A text (or number, file…) input; `attrs` are its attributes (type, required, min, placeholder…). */
export function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h('input', { id: freshId(name), name, type: 'text', ...attrs });
}

/** A multi-line text input. */
export function textarea(name: string, attrs: Attrs = {}): HTMLTextAreaElement {
  return h('textarea', { id: freshId(name), name, rows: 3, ...attrs });
}

/** A select with `options` ([value, label]); the first is chosen unless `selected` is given. */
export function select(name: string, options: Array<[string, string]>, selected?: string, attrs: Attrs = {}): HTMLSelectElement {
  return h('select', { id: freshId(name), name, ...attrs }, options.map(([value, label]) => h('option', { value, selected: value === selected }, label)));
}

/** A checkbox with its label after it (the label wraps it, so a click on the text toggles it). */
export function checkbox(name: string, label: Child, attrs: Attrs = {}): { el: HTMLElement; box: HTMLInputElement } {
  const box = input(name, { type: 'checkbox', ...attrs });
  return { el: h('label', { class: 'check', for: box.id }, box, ' ', label), box };
}

/**
 * Runs `action` for `button` outside a `form`: disables it meanwhile, replaces what `out` showed
 * by the error (with its code) when it fails, and says whether it succeeded.
 */
export async function runAction(button: HTMLButtonElement, out: HTMLElement, action: () => Promise<void>): Promise<boolean> {
  button.disabled = true;
  out.replaceChildren();
  try {
    await action();
    return true;
  } catch (e) {
    out.append(errorBox(e));
    return false;
  } finally {
    button.disabled = false;
  }
}

/** Where a hand-made form says how its last action went (read out by screen readers). */
export function formOutput(): HTMLElement {
  return h('div', { class: 'form-output', 'aria-live': 'polite' });
}

/** Options for `form`. */
export interface FormOptions {
  /** The form's accessible name (and its heading when `heading` is true). */
  label: string;
  /** The submit button's text. */
  submit: string;
  /** Fields and other content, in order. */
  body: Child[];
  /**
   * Runs on submit (the button is disabled meanwhile). A thrown error is shown under the form
   * with its code (FORBIDDEN, BAD_USER_INPUT…); what it returns is shown as a note.
   */
  onSubmit: (form: HTMLFormElement) => Promise<Child | void>;
  /** Shows the label as a heading above the fields. */
  heading?: boolean;
}

/**
 * A form whose submission runs `onSubmit` and shows its error (code and message, in an
 * alert) or its note below the button; keyboard-only: Enter submits, every control is labelled.
 */
export function form(opts: FormOptions): HTMLFormElement {
  const button = h('button', { type: 'submit', class: 'primary' }, opts.submit);
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const el: HTMLFormElement = h(
    'form',
    {
      class: 'form',
      'aria-label': opts.label,
      novalidate: false,
      onsubmit: async (event: Event) => {
        event.preventDefault();
        button.disabled = true;
        replace(status);
        try {
          const note = await opts.onSubmit(el);
          if (note) replace(status, h('div', { class: 'form-note' }, note));
        } catch (e) {
          replace(status, errorBox(e));
        } finally {
          button.disabled = false;
        }
      },
    },
    opts.heading ? h('h2', null, opts.label) : null,
    h('div', { class: 'form-grid' }, opts.body),
    h('div', { class: 'actions' }, button),
    status,
  );
  return el;
}

/**
 * A section that opens on demand (a native details/summary: Enter or Space toggles it): the
 * "New …" forms above a list.
 */
export function disclosure(summary: string, ...body: Child[]): HTMLDetailsElement {
  return h('details', { class: 'disclosure' }, h('summary', null, summary), h('div', { class: 'disclosure-body' }, body));
}

/** Options for `confirmButton`. */
export interface ConfirmOptions {
  /** The button's text ("Delete"). */
  label: string;
  /** Its accessible name ("Delete web"): also the confirming button's. */
  name: string;
  /** What the confirm step asks ("Delete environment web? Its volumes are removed."). */
  question: string;
  /** Runs once confirmed; a thrown error is shown with its code, and the button comes back. */
  run: () => Promise<void>;
  disabled?: boolean;
  title?: string;
}

/**
 * A dangerous action with a confirm step: the button opens an inline question with
 * "Yes, <name>" and Cancel (focus goes to Cancel, Escape cancels); the error, if any, stays
 * below with its code.
 */
export function confirmButton(opts: ConfirmOptions): HTMLElement {
  const box = h('span', { class: 'confirm' });
  const status = h('span', { class: 'confirm-status', 'aria-live': 'polite' });
  const ask = (): void => {
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => idle() }, 'Cancel');
    const yes = h(
      'button',
      {
        type: 'button',
        class: 'danger',
        onclick: async () => {
          yes.disabled = true;
          cancel.disabled = true;
          try {
            await opts.run();
            idle();
          } catch (e) {
            idle();
            replace(status, errorBox(e));
          }
        },
      },
      `Yes, ${opts.name.charAt(0).toLowerCase()}${opts.name.slice(1)}`,
    );
    const question = h('span', { class: 'confirm-question', role: 'group', 'aria-label': `Confirm: ${opts.name}`, onkeydown: (e: Event) => (e as KeyboardEvent).key === 'Escape' && idle() }, h('span', null, opts.question), yes, cancel);
    replace(status);
    replace(box, question, status);
    cancel.focus();
  };
  const idle = (): void => {
    const button = h('button', { type: 'button', class: 'danger-outline', disabled: opts.disabled, title: opts.title ?? opts.name, 'aria-label': opts.name, onclick: ask }, opts.label);
    replace(box, button, status);
  };
  idle();
  return box;
}

/** The value of the form's control `name` ('' when absent), trimmed. */
export function valueOf(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name) as Control | null;
  return el ? el.value.trim() : '';
}

/** A number from the form's control `name` times `scale`; undefined when empty. */
export function numberOf(form: HTMLFormElement, name: string, scale = 1): number | undefined {
  const raw = valueOf(form, name);
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new GraphQLRequestError(`${name}: "${raw}" is not a number`, 'BAD_USER_INPUT');
  return n * scale;
}

/** Whether the checkbox `name` of the form is checked. */
export function checked(form: HTMLFormElement, name: string): boolean {
  return (form.elements.namedItem(name) as HTMLInputElement | null)?.checked ?? false;
}

/**
 * `KEY=value` lines (blank lines and # comments skipped) as an object; a line without `=` is
 * refused with its line number.
 */
export function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new GraphQLRequestError(`Line ${i + 1} ("${line}") is not KEY=value`, 'BAD_USER_INPUT');
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  return out;
}
