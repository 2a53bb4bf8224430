import { BadInputError, ForbiddenError } from '../errors/rsp-error';
import type { PeerSite } from './peer-site';

/** A site this site's admin lets it call (`RSP_PEER_SITES`): its name and GraphQL endpoint. */
export interface KnownPeer {
  name: string;
  url: string;
}

/** What a caller gives to name another site: its name, optionally its URL, and a token it issued. */
export interface PeerRequest {
  name: string;
  url?: string | null;
  token?: string | null;
}

/** The origin (`scheme://host:port`) of a URL, or undefined when it is not an http(s) URL. */
export function httpOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The other sites this site may send requests to (`importImage`'s `from`, a replication policy's
 * `peer`, a replica sent to another site): only those its admin listed (`RSP_PEER_SITES`), at the
 * URL listed there — a caller names a site, it never picks where this site connects. Anything else
 * is FORBIDDEN (`details.reason` `PEER_NOT_ALLOWED` or `PEER_URL_MISMATCH`) before any connection.
 */
export class KnownPeers {
  private readonly byName: ReadonlyMap<string, KnownPeer>;

  constructor(peers: readonly KnownPeer[]) {
    this.byName = new Map(peers.map((p) => [p.name, p]));
  }

  /** The names of the listed sites. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /**
   * The peer to call for `request`: the listed site of its name, at its listed URL, with the
   * caller's token. A URL given must have the listed one's origin; a token is required.
   */
  resolve(request: PeerRequest): PeerSite {
    const known = this.byName.get(request.name);
    if (!known) throw new ForbiddenError(`Site ${request.name} is not one of this site's peer sites (RSP_PEER_SITES): this site sends no request there`, { reason: 'PEER_NOT_ALLOWED', peer: request.name });
    if (request.url && httpOrigin(request.url) !== httpOrigin(known.url)) {
      throw new ForbiddenError(`Site ${request.name} is known at ${httpOrigin(known.url)}, not at the URL given: this site sends no request there`, { reason: 'PEER_URL_MISMATCH', peer: request.name });
    }
    if (!request.token) throw new BadInputError(`Site ${request.name}: give a token it issued (through rsp federate, the federation fills it for a linked site)`, { peer: request.name });
    return { name: known.name, url: known.url, token: request.token };
  }
}
