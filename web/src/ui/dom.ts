/** Something that can be put in an element: nodes, text, nothing, or lists of these. */
export type Child = Node | string | number | null | undefined | false | Child[];

/** Attributes of `h`: `class`, `on<event>` handlers, `dataset`, booleans, other attributes as strings. */
export type Attrs = Record<string, string | number | boolean | null | undefined | EventListener | Record<string, string>>;

/** Creates an element with attributes and children (text is escaped: it becomes a text node). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset' && typeof value === 'object') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children to `el`. */
export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A link that navigates inside the dashboard without reloading the page. */
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href, dataset: { nav: '' } }, ...children);
}

/**
 * What a view holds that must end with it (subscriptions, timers, charts): `add` a function,
 * `dispose` calls them all once.
 */
export class Scope {
  private readonly cleanups: Array<() => void> = [];
  private disposed = false;

  /** Registers a clean-up (run at once when the scope has ended). */
  add(cleanup: () => void): void {
    if (this.disposed) cleanup();
    else this.cleanups.push(cleanup);
  }

  /** Whether the scope has ended (late answers are then ignored). */
  get ended(): boolean {
    return this.disposed;
  }

  /** Runs every clean-up. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch (e) {
        console.error(e);
      }
    }
  }
}

/**
 * Elements a view keeps across its reloads, by key, so that an open confirm step or inline form
 * and what is typed or chosen in it survive a live reload (which rebuilds everything else). A
 * key names what the element depends on (an id, and whatever changes how it is made). `sweep()`
 * at the start of each render drops what the previous render did not ask for.
 */
export class Kept {
  private readonly elements = new Map<string, HTMLElement>();
  private used = new Set<string>();

  /** The element kept for `key`, made by `make` the first time. */
  get<T extends HTMLElement>(key: string, make: () => T): T {
    this.used.add(key);
    let el = this.elements.get(key);
    if (!el) this.elements.set(key, (el = make()));
    return el as T;
  }

  /** Drops the elements the last render did not ask for. */
  sweep(): void {
    for (const key of this.elements.keys()) if (!this.used.has(key)) this.elements.delete(key);
    this.used = new Set();
  }
}
