import { ConflictError, UnavailableError } from '../errors';
import type { Driver } from '../contract';

/**
 * An in-process "network" of fake drivers, keyed by URI (`fake://host-b`): `migrate` finds its
 * destination here, the way a real driver would connect to a remote libvirtd.
 */
export class FakeNetwork {
  private readonly listeners = new Map<string, Driver>();

  /** Makes `driver` reachable at `uri`; CONFLICT if another listens there. */
  listen(uri: string, driver: Driver): void {
    const current = this.listeners.get(uri);
    if (current && current !== driver) throw new ConflictError(`Another fake driver already listens at ${uri}`, { uri });
    this.listeners.set(uri, driver);
  }

  /** Stops listening at `uri`. */
  close(uri: string): void {
    this.listeners.delete(uri);
  }

  /** The driver at `uri`; UNAVAILABLE when nothing listens there. */
  connect(uri: string): Driver {
    const driver = this.listeners.get(uri);
    if (!driver) throw new UnavailableError(`No fake driver listens at ${uri}`, { uri });
    return driver;
  }
}

/** The network fake drivers join when given none. */
export const DEFAULT_FAKE_NETWORK = new FakeNetwork();

/** Hands out IPv4 addresses of 10.88.0.0/16 to fake environments. */
export class AddressPool {
  private readonly taken = new Set<string>();
  private next = 2;

  /** Takes `wanted` (CONFLICT if taken) or the next free address. */
  take(wanted?: string): string {
    if (wanted) {
      if (this.taken.has(wanted)) throw new ConflictError(`Address ${wanted} is already in use`, { address: wanted });
      this.taken.add(wanted);
      return wanted;
    }
    for (let i = 0; i < 65_000; i++) {
      const n = this.next;
      this.next = this.next >= 65_000 ? 2 : this.next + 1;
      const address = `10.88.${Math.floor(n / 256)}.${n % 256}`;
      if (n % 256 !== 0 && n % 256 !== 255 && !this.taken.has(address)) {
        this.taken.add(address);
        return address;
      }
    }
    throw new UnavailableError('The fake address pool is exhausted');
  }

  /** Gives an address back. */
  release(address: string): void {
    this.taken.delete(address);
  }
}
