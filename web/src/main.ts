import './styles.css';
import { GraphQLRequestError, onUnauthenticated, request } from './api/graphql';
import { closeLive, onLiveState } from './api/live';
import { GroupNamesDocument, ViewerDocument, ViewerQuery } from './api/queries';
import { forgetToken, storedToken, storeToken, Viewer } from './api/session';
import { match, Route, startRouter } from './router';
import { h, replace, Scope } from './ui/dom';
import { clearDock, operationDock } from './ui/operation-dock';
import { errorBox } from './ui/widgets';
import { alertsView } from './views/alerts';
import { allocationsView } from './views/allocations';
import { capacityView } from './views/capacity';
import { environmentView } from './views/environment';
import { environmentsView } from './views/environments';
import { groupsView } from './views/groups';
import { environmentCreateView } from './views/forms/environment-create';
import { hostView } from './views/host';
import { hostsView } from './views/hosts';
import { imagesView } from './views/images';
import { operationsView } from './views/operations';
import { overviewView } from './views/overview';
import { replicationView } from './views/replication';
import { sharingView } from './views/sharing';
import { sitesView } from './views/sites';

const ID = '([0-9a-fA-F-]{36})';

/** The dashboard's pages. */
const ROUTES: Route[] = [
  { pattern: /^\/$/, view: overviewView, nav: { href: '/', label: 'Overview' } },
  { pattern: /^\/sites\/?$/, view: sitesView, nav: { href: '/sites', label: 'Sites & hosts' } },
  { pattern: /^\/hosts\/?$/, view: hostsView, nav: { href: '/hosts', label: 'Hosts' } },
  { pattern: new RegExp(`^/hosts/${ID}$`), view: hostView },
  { pattern: /^\/environments\/?$/, view: environmentsView, nav: { href: '/environments', label: 'Environments' } },
  { pattern: new RegExp(`^/environments/${ID}$`), view: environmentView },
  { pattern: /^\/environments\/new\/?$/, view: environmentCreateView },
  { pattern: /^\/images\/?$/, view: imagesView, nav: { href: '/images', label: 'Images' } },
  { pattern: /^\/capacity\/?$/, view: capacityView, nav: { href: '/capacity', label: 'Capacity' } },
  { pattern: /^\/groups\/?$/, view: groupsView, nav: { href: '/groups', label: 'Groups' } },
  { pattern: /^\/allocations\/?$/, view: allocationsView, nav: { href: '/allocations', label: 'Allocations' } },
  { pattern: /^\/sharing\/?$/, view: sharingView, nav: { href: '/sharing', label: 'Sharing' } },
  { pattern: /^\/replication\/?$/, view: replicationView, nav: { href: '/replication', label: 'Replication' } },
  { pattern: new RegExp(`^/replication/environments/${ID}$`), view: replicationView },
  { pattern: /^\/operations\/?$/, view: operationsView, nav: { href: '/operations', label: 'Operations' } },
  { pattern: /^\/alerts\/?$/, view: alertsView, nav: { href: '/alerts', label: 'Alerts' } },
];

const root = document.getElementById('app')!;
/** The gateway's site and version (the `gateway` query). */
type GatewayInfo = ViewerQuery['gateway'];
let session: { viewer: Viewer; scope?: Scope; stopLiveState?: () => void } | undefined;

/** The login form; `notice` says why it is shown again (a refused token). */
function showLogin(notice?: string): void {
  document.title = 'Log in · RSP';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, placeholder: 'rsp_…', spellcheck: 'false' });
  const message = h('div', { class: 'login-message', 'aria-live': 'assertive' }, notice ? h('div', { class: 'error', role: 'alert' }, notice) : null);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        submit.disabled = true;
        replace(message);
        try {
          const d = await request(ViewerDocument, {}, token);
          if (!d.viewer.authenticated) throw new GraphQLRequestError('This token is unknown, revoked or expired', 'UNAUTHENTICATED');
          storeToken(token);
          showApp(d.viewer, d.gateway);
        } catch (e) {
          replace(message, errorBox(e));
          submit.disabled = false;
          input.focus();
        }
      },
    },
    h('h1', null, 'RSP'),
    h('p', { class: 'muted' }, 'Log in with an API token of your group. The token stays in this browser until you log out.'),
    h('label', { for: 'token' }, 'API token'),
    input,
    submit,
    message,
    h('p', { class: 'muted small' }, 'No token? The gateway’s first start printed a site-admin token in its terminal (shown once); a group admin creates more with ', h('code', null, 'rsp token create'), '. The GraphQL IDE is at ', h('a', { href: '/graphql' }, '/graphql'), '.'),
  );
  replace(root, h('main', { class: 'login-page' }, form));
  input.focus();
}

/** Ends the session: forgets the token, closes the live connection, shows the login form. */
async function logout(notice?: string): Promise<void> {
  session?.scope?.dispose();
  session?.stopLiveState?.();
  session = undefined;
  forgetToken();
  clearDock();
  await closeLive();
  if (location.pathname !== '/') history.replaceState(null, '', '/');
  showLogin(notice);
}

/** The dashboard around the current page: header, navigation, the page, the operations dock. */
async function showApp(viewer: Viewer, gateway: GatewayInfo): Promise<void> {
  session = { viewer };
  const groupNames = new Map<string, string>();
  try {
    const d = await request(GroupNamesDocument, {});
    for (const g of d.groups.nodes) groupNames.set(g.id, g.name);
  } catch {
    // Labels fall back to ids.
  }
  if (!session) return;

  const liveDot = h('span', { class: 'live-dot', dataset: { state: 'connecting' }, title: 'Live connection' });
  session.stopLiveState = onLiveState((state) => {
    liveDot.dataset.state = state;
    liveDot.title = `Live connection: ${state}`;
  });
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' }, ROUTES.filter((r) => r.nav).map((r) => h('a', { href: r.nav!.href, dataset: { nav: '' } }, r.nav!.label)));
  const who = viewer.siteAdmin ? 'site admin' : `${viewer.role?.toLowerCase() ?? ''} of ${groupNames.get(viewer.groupId ?? '') ?? 'a group'}`;
  const main = h('main', { class: 'content', id: 'content' });
  replace(
    root,
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '/', dataset: { nav: '' } }, 'RSP', h('span', { class: 'muted' }, ` ${gateway.site}`)),
      nav,
      h('div', { class: 'who' }, liveDot, h('span', { class: 'viewer', title: `token ${viewer.tokenId ?? ''}` }, h('strong', null, viewer.name ?? 'token'), h('span', { class: 'muted' }, ` · ${who}`)), h('button', { type: 'button', class: 'secondary', onclick: () => void logout() }, 'Log out')),
    ),
    main,
    operationDock(),
    h('footer', { class: 'foot muted small' }, `RSP ${gateway.version} · `, h('a', { href: '/graphql' }, 'GraphQL IDE')),
  );

  startRouter((path) => {
    if (!session) return;
    session.scope?.dispose();
    const scope = new Scope();
    session.scope = scope;
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.pathname === path || (a.pathname !== '/' && path.startsWith(a.pathname)));
    const found = match(ROUTES, path);
    document.title = `${found?.route.nav?.label ?? 'RSP'} · RSP`;
    if (!found) {
      replace(main, h('h1', null, 'Not found'), h('p', null, 'This page does not exist. ', h('a', { href: '/', dataset: { nav: '' } }, 'Back to the overview.')));
      return;
    }
    replace(main, found.route.view({ scope, viewer, params: found.params, groupNames }));
    window.scrollTo(0, 0);
  });
}

/** Starts: with a stored token that still works, the dashboard; otherwise the login form. */
async function boot(): Promise<void> {
  const token = storedToken();
  if (!token) return showLogin();
  try {
    const d = await request(ViewerDocument, {}, token);
    if (!d.viewer.authenticated) return void logout('Your token is no longer valid. Log in again.');
    await showApp(d.viewer, d.gateway);
  } catch (e) {
    if (e instanceof GraphQLRequestError && e.code === 'UNAUTHENTICATED') return void logout('The gateway refused your token (revoked or expired). Log in again.');
    replace(root, h('main', { class: 'login-page' }, h('div', { class: 'login' }, h('h1', null, 'RSP'), errorBox(e), h('button', { type: 'button', class: 'primary', onclick: () => void boot() }, 'Retry'))));
  }
}

onUnauthenticated(() => {
  if (session) void logout('The gateway refused your token (revoked or expired). Log in again.');
});
void boot();
