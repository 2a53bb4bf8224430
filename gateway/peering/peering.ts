import type { DataSource } from 'typeorm';
import { ConflictError } from '../errors';
import type { Logger } from '../logging/logger';
import { ReplicationPolicyEntity } from '../persistence/entities';
import { KnownPeers, type KnownPeer, type PeerRequest } from './known-peers';
import { PeerClient, type PeerSite } from './peer-site';
import { PeerTokenSeal } from './peer-token-seal';

/**
 * How this site works with other sites: which ones it may call (`KnownPeers`) and how the tokens
 * they issued are kept (`PeerTokenSeal`). Every request to another site starts here.
 */
export class Peering {
  readonly known: KnownPeers;

  constructor(
    peers: readonly KnownPeer[],
    readonly seal: PeerTokenSeal,
  ) {
    this.known = new KnownPeers(peers);
  }

  /** A site that calls no other site (no peers listed, a key of this process). */
  static none(): Peering {
    return new Peering([], new PeerTokenSeal(undefined));
  }

  /** The peer a caller names, checked against the known sites (see `KnownPeers.resolve`). */
  peerFor(request: PeerRequest): PeerSite {
    return this.known.resolve(request);
  }

  /** A client of a policy's peer: still a known site, at the URL listed now, with its token opened. */
  clientOfPolicy(pol: Pick<ReplicationPolicyEntity, 'id' | 'peerName' | 'peerUrl' | 'peerToken'>): PeerClient {
    if (!pol.peerName || !pol.peerToken) throw new ConflictError(`Replication policy ${pol.id} names no peer site`, { policyId: pol.id });
    return new PeerClient(this.known.resolve({ name: pol.peerName, url: pol.peerUrl, token: this.seal.open(pol.peerToken) }));
  }

  /**
   * Seals the peer tokens rows still keep in plain text (written before tokens were sealed); run at
   * start. Each row is changed only while it still holds the plain token, so gateways doing it at
   * once agree. Returns how many were sealed.
   */
  async sealStoredTokens(dataSource: DataSource, logger?: Logger): Promise<number> {
    const repo = dataSource.getRepository(ReplicationPolicyEntity);
    const rows = (await repo.createQueryBuilder('p').select(['p.id', 'p.peerToken']).where('p.peerToken IS NOT NULL').getMany()).filter((p) => !PeerTokenSeal.isSealed(p.peerToken!));
    for (const row of rows) await repo.createQueryBuilder().update().set({ peerToken: this.seal.seal(row.peerToken!) }).where('id = :id AND "peerToken" = :plain', { id: row.id, plain: row.peerToken }).execute();
    if (rows.length) logger?.info({ policies: rows.length }, 'sealed the peer tokens replication policies kept in plain text');
    return rows.length;
  }
}
