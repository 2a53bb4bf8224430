/** Seconds a client over a connection cap is told to wait (a cap frees when a connection closes or authenticates, not with time). */
export const CAP_RETRY_SECONDS = 30;

/** Why a socket is refused at its HTTP upgrade: the message, the HTTP status, the seconds to wait and the setting that refused it. */
export interface SocketRefusal {
  message: string;
  /** 429 for a cap of the client's own, 503 for the gateway-wide cap. */
  status: 429 | 503;
  retryAfter: number;
  limit: 'RSP_MAX_SOCKETS_PER_ADDRESS' | 'RSP_RATE_SOCKETS_PER_MINUTE' | 'RSP_MAX_ANONYMOUS_SOCKETS' | 'RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS';
}

/** A place held by a socket without credentials: `authenticated()` gives it back once a token authenticates the socket, `release()` once it closes. */
export interface UnauthenticatedPlace {
  authenticated(): void;
  release(): void;
}

/**
 * The caps of graphql-ws sockets that carry no credentials yet, checked at the HTTP upgrade, before
 * the WebSocket handshake (a refused socket costs an HTTP answer, not a handshake, a
 * `connection_init` and a close): at most `perAddress` from one client address and `total` over
 * all. A socket holds its place from the upgrade until it authenticates in `connection_init` or
 * closes; a socket authenticated at the upgrade (a token in `Authorization` or the
 * `Sec-WebSocket-Protocol` list) never takes one. Per replica: the caps bound one process's work.
 */
export class UnauthenticatedSockets {
  private readonly places: AddressPlaces;

  constructor(caps: { total: number; perAddress: number }) {
    this.places = new AddressPlaces(caps);
  }

  /** Sockets holding a place now. */
  get size(): number {
    return this.places.size;
  }

  /** Takes a place for a socket from `address`: a refusal over a cap, else the place. */
  admit(address: string): SocketRefusal | UnauthenticatedPlace {
    const taken = this.places.take(address);
    if (taken === 'perAddress') {
      return { message: `Too many connections without a token from ${address}: at most ${this.places.caps.perAddress} (RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS); connect with a token`, status: 429, retryAfter: CAP_RETRY_SECONDS, limit: 'RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS' };
    }
    if (taken === 'total') {
      return { message: `Too many connections without a token: at most ${this.places.caps.total} on this gateway (RSP_MAX_ANONYMOUS_SOCKETS); connect with a token`, status: 503, retryAfter: CAP_RETRY_SECONDS, limit: 'RSP_MAX_ANONYMOUS_SOCKETS' };
    }
    return { authenticated: taken, release: taken };
  }
}

/**
 * Places held by connections, at most `perAddress` from one client address and `total` in all (0:
 * no cap). `take` gives the function that frees the place (safe to call more than once), or which
 * cap refused it.
 */
export class AddressPlaces {
  private readonly byAddress = new Map<string, number>();
  private count = 0;

  constructor(readonly caps: { total: number; perAddress: number }) {}

  /** Places held now. */
  get size(): number {
    return this.count;
  }

  /** Takes a place for `address`: what frees it, or the cap that refused it. */
  take(address: string): (() => void) | 'perAddress' | 'total' {
    const { total, perAddress } = this.caps;
    const mine = this.byAddress.get(address) ?? 0;
    if (perAddress > 0 && mine >= perAddress) return 'perAddress';
    if (total > 0 && this.count >= total) return 'total';
    this.count++;
    this.byAddress.set(address, mine + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.count--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.byAddress.set(address, left);
      else this.byAddress.delete(address);
    };
  }
}

/** Whether an admission is a refusal. */
export function isRefusal<T extends object>(admitted: SocketRefusal | T): admitted is SocketRefusal {
  return 'limit' in admitted && 'retryAfter' in admitted;
}
