import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ERROR_CATEGORIES, type ErrorCategory, ForbiddenError, RspError, UnavailableError } from '../errors';

/**
 * Another site this site works with for a caller: its name, its GraphQL endpoint and a token that
 * site issued (the federation's peering credential for the caller's group there). The other site's
 * own authorization decides what the token may do; this site keeps it only as long as it needs it.
 */
export interface PeerSite {
  name: string;
  url: string;
  token: string;
}

/** How long one call to a peer site may take before it counts as unavailable. */
const PEER_TIMEOUT_MS = 120_000;

/** Redirects followed within the peer's own origin; one to another origin is refused. */
const MAX_REDIRECTS = 3;

/**
 * Calls to a peer site with the token it issued: GraphQL, an image's bits by digest, and its peer
 * store (chunks and manifests). A refusal of the peer keeps its code (FORBIDDEN, NOT_FOUND…) and
 * names the site; a peer that does not answer is UNAVAILABLE.
 */
export class PeerClient {
  /** The peer's base URL (its GraphQL endpoint without `/graphql`). */
  readonly base: string;

  constructor(readonly peer: PeerSite) {
    this.base = peer.url.replace(/\/graphql\/?$/, '').replace(/\/$/, '');
  }

  /** A GraphQL request at the peer; its first error is thrown with its code and the site named. */
  async graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const body = (await (await this.fetch(`${this.base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    const error = body.errors?.[0];
    if (error) throw this.refusal(error.extensions?.code, error.message);
    return body.data as T;
  }

  /** The bits of an image the token may use at the peer, by digest, streamed. */
  async imageContent(digest: string): Promise<{ stream: Readable; length?: number }> {
    const res = await this.fetch(`${this.base}/images/content/${encodeURIComponent(digest)}`, { method: 'GET' });
    if (!res.body) throw new UnavailableError(`Site ${this.peer.name} sent no content for image ${digest}`, { peer: this.peer.name });
    const length = Number(res.headers.get('content-length'));
    return { stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), ...(Number.isFinite(length) && length > 0 ? { length } : {}) };
  }

  /** One call of the peer's store (POST /peer/store): its JSON answer. */
  async store<T>(call: string, args: Record<string, unknown>): Promise<T> {
    const res = await this.fetch(`${this.base}/peer/store`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ call, args }) });
    return ((await res.json()) as { result: T }).result;
  }

  /**
   * A request with the peer's token; a refusal (non-2xx) is thrown as the peer's error, naming it.
   * Redirects are followed only within the peer's origin: one elsewhere is FORBIDDEN
   * (`details.reason` `PEER_REDIRECT`), and the token never leaves the peer's origin.
   */
  private async fetch(url: string, init: RequestInit): Promise<Response> {
    const origin = new URL(this.base).origin;
    let res: Response;
    let target = url;
    for (let hops = 0; ; hops++) {
      try {
        res = await fetch(target, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.peer.token}` }, signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
      } catch (e) {
        throw new UnavailableError(`Site ${this.peer.name} is unavailable: ${(e as Error).message}`, { peer: this.peer.name });
      }
      if (res.status < 300 || res.status >= 400) break;
      await res.body?.cancel();
      const location = res.headers.get('location');
      const next = location ? new URL(location, target) : undefined;
      if (!next || next.origin !== origin) throw new ForbiddenError(`Site ${this.peer.name} redirected to ${next?.origin ?? 'nowhere'}, not its own origin: refused`, { reason: 'PEER_REDIRECT', peer: this.peer.name });
      if (hops >= MAX_REDIRECTS) throw new UnavailableError(`Site ${this.peer.name} redirected more than ${MAX_REDIRECTS} times`, { peer: this.peer.name });
      target = next.href;
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let error: { message?: string; extensions?: { code?: string } } | undefined;
    try {
      error = (JSON.parse(text) as { errors?: Array<{ message?: string; extensions?: { code?: string } }> }).errors?.[0];
    } catch {
      // Not JSON: the status says enough.
    }
    throw this.refusal(error?.extensions?.code, error?.message ?? `HTTP ${res.status}`);
  }

  /** The peer's refusal as an error of this site: its code when it is one of ours, the site named. */
  private refusal(code: string | undefined, message: string): RspError {
    const known = (ERROR_CATEGORIES as readonly string[]).includes(code ?? '') && code !== 'INTERNAL';
    return new RspError(known ? (code as ErrorCategory) : 'UNAVAILABLE', `Site ${this.peer.name}: ${message}`, { peer: this.peer.name });
  }
}
