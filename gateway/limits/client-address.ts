import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Loopback addresses: a proxy on this machine, whose `X-Forwarded-For` is believed (as express's `trust proxy loopback`). */
function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) as IPv4, so one client has one key. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The client address of a request, the key of its per-address limits: the peer's address, or
 * when the peer is a proxy on this machine, the nearest address of `X-Forwarded-For` that is not
 * loopback.
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>): string {
  let address = req.socket.remoteAddress ?? 'unknown';
  const forwarded = req.headers['x-forwarded-for'];
  if (isLoopback(address) && typeof forwarded === 'string') {
    const hops = forwarded.split(',').map((h) => h.trim()).filter((h) => isIP(h));
    while (hops.length && isLoopback(address)) address = hops.pop()!;
  }
  return plain(address);
}
