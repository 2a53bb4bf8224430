import { request } from '../api/graphql';
import { Host, HostDeleteDocument, HostDrainDocument } from '../api/queries';
import { h, link } from '../ui/dom';
import { confirmButton, formOutput, runAction } from '../ui/form';
import { followOperation } from '../ui/operation-dock';

/**
 * Drain and Retire on a host's page. Drain moves every environment off it (the operation is
 * followed in the dock, its error shown with its code); Retire, once confirmed, deletes the
 * empty host (refused with what is still on it) and `retired` replaces the page. The API
 * decides who may (site admins, the admins of the host's owner group).
 */
export function hostActions(host: Pick<Host, 'id' | 'hostname'>, changed: () => void, retired: () => void): HTMLElement {
  const out = formOutput();
  const drain = h('button', { type: 'button', class: 'secondary', 'aria-label': `Drain ${host.hostname}`, title: 'Move every environment off this host and leave it DRAINING' }, 'Drain');
  drain.addEventListener('click', () =>
    void runAction(drain, out, async () => {
      const { op } = await request(HostDrainDocument, { id: host.id });
      followOperation(op, `Drain ${host.hostname}`, changed);
      changed();
    }),
  );
  const retire = confirmButton({
    label: 'Retire…',
    name: `Retire ${host.hostname}`,
    question: `Retire ${host.hostname} for good? Its shares, offers, resources and machine layer are deleted with it; it must be empty (drain it first).`,
    run: async () => {
      await request(HostDeleteDocument, { id: host.id });
      retired();
    },
  });
  return h('div', { class: 'host-actions' }, h('div', { class: 'actions' }, drain, retire), out);
}

/** What the host page becomes once its host is retired. */
export function retiredNotice(hostname: string): HTMLElement {
  return h('div', { role: 'status' }, h('h1', null, `${hostname} is retired`), h('p', null, 'The host and its shares, offers and resources are deleted. ', link('/sites', 'Back to sites and hosts.')));
}
