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
  /** A subscriber's graphql-ws subscription: its results are written straight to its socket. */
  subscription?: SubscriptionSocket;
}

/** Finds the federation group of `Authorization: Bearer <key>`, or refuses with UNAUTHENTICATED (401). */
export function authenticate(config: FederationConfig, authorization: string | null | undefined): FederationGroup {
  const key = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  const hash = key ? keyHash(key) : undefined;
  const group = hash ? config.groups.find((g) => g.keySha256 === hash) : undefined;
  if (!group) {
    throw new GraphQLError(key ? 'Unknown federation key' : 'Authentication required: send "Authorization: Bearer <federation key>"', {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
  return { name: group.name, links: group.links };
}
