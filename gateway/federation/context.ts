import { GraphQLError } from 'graphql';
import type { FederationConfig } from './config';
import { keyHash } from './config';
import type { SubscriptionSocket } from '../server/shared-execution';

/** A federation group as a request sees it: its name and, per linked site, the token that site issued. */
export interface FederationGroup {
  name: string;
  links: Record<string, string>;
}

/** The context of one request at the federation gateway. */
export interface FederationContext {
  group: FederationGroup;
  /** Errors of sites that did not answer a field (the request still gets the others' data). */
  siteErrors: GraphQLError[];
  /** The site the caller named (header x-rsp-site): root fields go there only. */
  site?: string;
  /** The errors a site answered the by-id fast path (ByIdForwarding): the stitched execution reports them without asking it again. */
  forwarded?: { site: string; errors: readonly GraphQLError[] };
  /** A subscriber's graphql-ws subscription: its results are written straight to its socket. */
  subscription?: SubscriptionSocket;
}

/**
 * The group of each key already checked (its SHA-256 not computed again per request), per
 * configuration: only keys that matched a group are kept (no more than the groups), a kept key is
 * used only while its group is still in the configuration's list with that key's hash, and any
 * other key is hashed and looked up again.
 */
const checkedKeys = new WeakMap<FederationConfig, Map<string, { group: FederationConfig['groups'][number]; hash: string }>>();

/** Finds the federation group of `Authorization: Bearer <key>`, or refuses with UNAUTHENTICATED (401). */
export function authenticate(config: FederationConfig, authorization: string | null | undefined): FederationGroup {
  const key = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  let checked = checkedKeys.get(config);
  if (!checked) checkedKeys.set(config, (checked = new Map()));
  const kept = key ? checked.get(key) : undefined;
  let group = kept && kept.group.keySha256 === kept.hash && config.groups.includes(kept.group) ? kept.group : undefined;
  if (kept && !group) checked.delete(key!);
  if (!group && key) {
    const hash = keyHash(key);
    group = config.groups.find((g) => g.keySha256 === hash);
    if (group && checked.size < config.groups.length) checked.set(key, { group, hash });
  }
  if (!group) {
    throw new GraphQLError(key ? 'Unknown federation key' : 'Authentication required: send "Authorization: Bearer <federation key>"', {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
  return { name: group.name, links: group.links };
}
