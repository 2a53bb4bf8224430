import { GraphQLRequestError, request } from '../api/graphql';
import { subscribe } from '../api/live';
import { Environment, EventsDocument, RestartEnvironmentDocument, RspEvent, StartEnvironmentDocument, StopEnvironmentDocument } from '../api/queries';
import type { Viewer } from '../api/session';
import { h, Kept, link, replace, Scope } from '../ui/dom';
import { followOperation } from '../ui/operation-dock';
import { errorBox } from '../ui/widgets';
import { deleteEnvironmentButton } from './forms/environment-delete';

/** The lifecycle buttons' mutations, each answering the operation it started. */
const ENVIRONMENT_ACTIONS = { start: StartEnvironmentDocument, stop: StopEnvironmentDocument, restart: RestartEnvironmentDocument } as const;

/** Statuses from which an environment can be started. */
const STARTABLE = new Set(['CREATED', 'STOPPED', 'FAILED']);

/**
 * Start / Stop / Restart buttons of an environment: each runs the mutation, follows the
 * operation in the dock, and calls `changed` when it ends. Viewers see them disabled. Delete
 * (confirmed) is left to the gateway to allow or refuse; `kept` keeps it (and its open confirm
 * step) across the view's live reloads.
 */
export function environmentActions(env: Environment, viewer: Viewer, changed: () => void, kept?: Kept): HTMLElement {
  const box = h('div', { class: 'actions' });
  const readOnly = !viewer.siteAdmin && viewer.role === 'VIEWER';
  const button = (verb: keyof typeof ENVIRONMENT_ACTIONS, label: string, enabled: boolean) =>
    h(
      'button',
      {
        type: 'button',
        class: verb === 'start' ? 'primary' : 'secondary',
        disabled: !enabled || readOnly,
        title: readOnly ? 'Your token has the VIEWER role: it may not change environments' : `${label} ${env.name}`,
        'aria-label': `${label} ${env.name}`,
        onclick: async (event: Event) => {
          const target = event.currentTarget as HTMLButtonElement;
          for (const b of box.querySelectorAll('button')) b.disabled = true;
          box.querySelector('.error')?.remove();
          try {
            const { op } = await request(ENVIRONMENT_ACTIONS[verb], { id: env.id });
            followOperation(op, `${label} ${env.name}`, changed);
            changed();
          } catch (e) {
            box.append(errorBox(e));
            target.disabled = false;
          }
        },
      },
      label,
    );
  box.append(button('start', 'Start', STARTABLE.has(env.status)), button('stop', 'Stop', env.status === 'RUNNING'), button('restart', 'Restart', env.status === 'RUNNING'), deleteEnvironmentButton(env, changed, kept));
  return box;
}

/**
 * Calls `reload` (at most every 400 ms) when the events stream says something of `kinds`
 * happened (and `accept`, when given, agrees), for as long as `scope` lives.
 */
export function reloadOnEvents(scope: Scope, kinds: Array<RspEvent['kind']>, reload: () => void, accept?: (event: RspEvent) => boolean): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = subscribe(
    EventsDocument,
    {},
    (d) => {
      if (!kinds.includes(d.events.kind) || (accept && !accept(d.events)) || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (!scope.ended) reload();
      }, 400);
    },
    () => undefined,
  );
  scope.add(() => {
    stop();
    clearTimeout(timer);
  });
}

/** What `loadInto` may do besides showing errors in place. */
export interface LoadIntoOptions {
  /** Called instead of showing a NOT_FOUND answer in place (a detail page shows its own "no such …" state). */
  notFound?: () => void;
}

/**
 * Loads with `load` and renders with `render` into `el`; errors are shown in place with their
 * code. Returns a function that loads again (keeping the current content until the answer).
 */
export function loadInto<T>(scope: Scope, el: HTMLElement, load: () => Promise<T>, render: (data: T) => Node | Node[], options: LoadIntoOptions = {}): () => void {
  let seq = 0;
  const run = () => {
    const mine = ++seq;
    load().then(
      (data) => {
        if (scope.ended || mine !== seq) return;
        const out = render(data);
        replace(el, Array.isArray(out) ? out : [out]);
      },
      (e: unknown) => {
        if (scope.ended || mine !== seq) return;
        if (e instanceof GraphQLRequestError && e.code === 'UNAUTHENTICATED') return;
        if (e instanceof GraphQLRequestError && e.code === 'NOT_FOUND' && options.notFound) return options.notFound();
        replace(el, errorBox(e));
      },
    );
  };
  run();
  return run;
}

/**
 * A detail page's whole content when the gateway knows no such thing (or the token may not see
 * it): one clear statement and the way back to the list, in place of the page's panels and charts.
 */
export function notFoundState(what: string, id: string, back: { href: string; label: string }): HTMLElement {
  return h(
    'div',
    { class: 'not-found', role: 'alert' },
    h('h1', null, `No ${what} with this id`),
    h('p', null, `No ${what} has the id `, h('code', null, id), ` (or your token may not see it). `, link(back.href, back.label)),
  );
}

/** A group's name for labels (its id when unknown). */
export function groupName(names: Map<string, string>, id: string | null | undefined): string {
  if (!id) return '—';
  return names.get(id) ?? id.slice(0, 8);
}

/** An environment's last intervention by the admins governing its host, in words ('' when none). */
export function interventionText(e: Pick<Environment, 'intervention'>, names: Map<string, string>): string {
  const i = e.intervention;
  if (!i) return '';
  return `${i.action === 'evict' ? 'evicted' : 'stopped'} by ${i.byGroupId ? groupName(names, i.byGroupId) : 'a site admin'} ${new Date(i.at).toLocaleString()}: ${i.reason}`;
}
