import type { View } from './views/context';

/** A route: a path pattern (its groups are the view's parameters), its view and nav label. */
export interface Route {
  pattern: RegExp;
  view: View;
  /** The link in the navigation, for top-level views. */
  nav?: { href: string; label: string };
}

/** The route matching `path`, with its parameters, or undefined. */
export function match(routes: Route[], path: string): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  return undefined;
}

/** What shows a path now (the latest session's). */
let current: ((path: string) => void) | undefined;

/** Goes to `href` (a path, with its `?query` when the page reads one) and shows its path. */
function navigate(href: string): void {
  if (href !== location.pathname + location.search) history.pushState(null, '', href);
  current?.(location.pathname);
}

/**
 * Follows the address bar: calls `show` now, on back/forward, and when a dashboard link
 * (`a[data-nav]`) is clicked without a modifier key. Returns how to navigate from code.
 */
export function startRouter(show: (path: string) => void): (path: string) => void {
  const first = !current;
  current = show;
  if (first) installListeners();
  show(location.pathname);
  return navigate;
}

function installListeners(): void {
  window.addEventListener('popstate', () => current?.(location.pathname));
  document.addEventListener('click', (event) => {
    const a = (event.target as Element | null)?.closest?.('a[data-nav]') as HTMLAnchorElement | null;
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(a.pathname + a.search);
  });
}
