import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP relay between a remote agent and its gateway whose link a bench can cut: while cut, bytes
 * are dropped in both directions and the sockets stay open (as with `netem loss 100%`: no FIN, no
 * RST, the gateway only notices the silence). `heal` ends the connections that crossed the cut (as
 * the peers would find them dead) and relays new ones again.
 */
export class LinkCutter {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private cut = false;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((inbound) => {
      const outbound = new Socket();
      const pair: [Socket, Socket] = [inbound, outbound];
      this.pairs.add(pair);
      const end = () => {
        inbound.destroy();
        outbound.destroy();
        this.pairs.delete(pair);
      };
      inbound.setNoDelay(true);
      outbound.setNoDelay(true);
      outbound.connect(target.port, target.host);
      inbound.on('data', (d) => void (this.cut || outbound.write(d)));
      outbound.on('data', (d) => void (this.cut || inbound.write(d)));
      for (const s of pair) {
        s.on('error', end);
        s.on('close', () => (this.cut ? undefined : end()));
      }
    });
  }

  /** Listens on 127.0.0.1 (a free port) and relays to `target`. */
  static async start(target: { host: string; port: number }): Promise<LinkCutter> {
    const cutter = new LinkCutter(target);
    await new Promise<void>((resolve) => cutter.server.listen(0, '127.0.0.1', resolve));
    return cutter;
  }

  /** `http://127.0.0.1:<port>`: the gateway URL to give the agent. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Drops every byte from now on, both ways. */
  cutLink(): void {
    this.cut = true;
  }

  /** Ends the connections that lived through the cut and relays again. */
  heal(): void {
    this.cut = false;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
