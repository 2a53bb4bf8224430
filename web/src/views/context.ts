import type { Viewer } from '../api/session';
import type { Scope } from '../ui/dom';

/** What every view is given: its scope, the caller, the route's parameters and the group names. */
export interface ViewContext {
  scope: Scope;
  viewer: Viewer;
  params: string[];
  /** Group id → name, for labels. */
  groupNames: Map<string, string>;
}

/** A view renders into the element it returns and fills it in as answers arrive. */
export type View = (ctx: ViewContext) => HTMLElement;
