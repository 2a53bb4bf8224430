import { createHash, randomUUID } from 'node:crypto';
import { DataSource, IsNull, Repository } from 'typeorm';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { ChunkData } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import { StoreChunkTransport } from '../artifacts/store-chunk-transport';
import { policy } from '../auth/policy';
import type { Principal } from '../auth/principal';
import { BadInputError, ConflictError, ForbiddenError, IntegrityError } from '../errors';
import type { Logger } from '../logging/logger';
import { ImageEntity, MemberRole, PeerTransferEntity, ReplicaEntity, ReplicaSource, ReplicationKind, ReplicationTargetKind } from '../persistence/entities';
import { StorageReservation } from '../storage-quotas/reservation';
import { checkedManifestSize, checkedPeerSource, countOf, isUuid, uuidOf } from './peer-replica-record';
import type { StorageQuotas } from '../storage-quotas/storage-quotas';

/** Chunk ids asked about at once, and bytes of chunks written at once. */
const MAX_IDS = 4096;
const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** A transfer silent this long is abandoned: its reserved bytes go back to the group's quota. */
const TRANSFER_IDLE_MS = 30 * 60_000;
/** What a transfer's reservation is for (shown in a quota CONFLICT). */
const PURPOSE = 'a replica from another site';
/** Why a replica whose manifest is encrypted is refused. */
const ENCRYPTED_REFUSAL = "Encrypted replicas are not kept for another site: its group key is not this site's";

/** A transfer a sending site began here: the group it is for and the bytes reserved for it. */
interface Transfer {
  id: string;
  groupId: string;
  room: StorageReservation;
  /** Bytes of chunks written so far (the reservation covers at least these). */
  written: number;
  /** The manifest the sender wrote within this transfer: the only one its replica may name, unless the group already holds it. */
  manifestId: string | null;
  /** The chunks the sender wrote within this transfer (in this process: a restart forgets them, and the sender sends them again). */
  sent: Set<string>;
  /** The environment (its id at the sending site) whose replica this is, as `begin` named it: its replicas here are what the transfer deduplicates against. */
  environmentId?: string;
  /** The chunks of the group's replicas kept here (of `environmentId`, when named), read once per transfer when first asked (see `PeerStore.held`). */
  held?: Promise<ReadonlySet<string>>;
  idle: NodeJS.Timeout;
}

/** What the sending site records here once its chunks and manifest are in: the replica as this site keeps it. */
export interface PeerReplicaRecord {
  /** The replica's manifest: the one its transfer sent (`putManifest`), or one the group already holds here. */
  manifestId: string;
  /** The replica's size and chunk count as the sender counts them; this site records its manifest's (its size at least what the transfer wrote). */
  bytes: number;
  chunks: number;
  /** What the transfer moved, reused and wrote, as the sender counts them (checked: whole numbers, chunk counts at most the manifest's). */
  movedBytes: number;
  reusedChunks: number;
  writtenChunks: number;
  /** The environment at the sending site (its id there). */
  environmentId: string;
  /** The environment as the sender describes it: checked as a create's input (`checkedPeerSource`), its restore command never taken. */
  source: ReplicaSource;
  /** The digest of the environment's image: restored here with this site's image of that digest. */
  imageDigest: string;
}

/**
 * This site's gateway store as another site's replication target (`POST /peer/store`), for a token
 * this site issued (a member of its group: the peering's linked group). The other site sends only
 * the chunks this store lacks, then the manifest, then records the replica here — in the token's
 * group, against its storage quota — where it is restored like any replica of the group. The
 * replica's bytes are claimed from the group's storage quota when the transfer begins (`begin`,
 * CONFLICT `STORAGE_QUOTA` when they do not fit, before any chunk is taken), chunks are taken only
 * within a begun transfer, and the claim is settled with the replica's record or released when the
 * sender aborts, fails or goes silent (TRANSFER_IDLE_MS). An open transfer is recorded in the
 * database (peer_transfer) with its reservation: a restart of this gateway keeps both, and the
 * sender goes on where it was (`resumeOpen`). Only
 * plaintext chunks whose bytes hash to their id are taken, so a peer can neither damage nor
 * replace what is stored for others; nothing is read back from here.
 *
 * What is stored here is answered per group: a chunk or manifest counts as here for a group only
 * when the group holds it — in a replica of its own kept in this store, or sent within its
 * transfer — whatever else the store keeps for other groups or for the site itself (`hasManifest`,
 * `missingChunks`, `checkChunks`, and the chunks a manifest written by `putManifest` names). So a
 * group cannot learn whether some content it knows is stored here for anyone else (a content
 * confirmation), nor claim it by its hashes. Deduplication keeps its gain where it is: a group
 * sends again only what it does not hold itself (a replica after the one before sends its
 * changes), and bytes sent that the store has already are not stored twice.
 */
export class PeerStore {
  private readonly place: StoreChunkTransport;
  private readonly replicas: Repository<ReplicaEntity>;
  private readonly images: Repository<ImageEntity>;
  private readonly records: Repository<PeerTransferEntity>;
  /** The open transfers, as recorded in peer_transfer. */
  private readonly transfers = new Map<string, Transfer>();

  constructor(
    private readonly dataSource: DataSource,
    /** The gateway's store (RSP_ARTIFACT_DIR). */
    store: ArtifactStore,
    private readonly quotas: StorageQuotas,
    private readonly logger: Logger,
    /** Whether an image's bits are stored here. */
    private readonly hasImageBits: (digest: string) => boolean,
  ) {
    this.place = new StoreChunkTransport(store);
    this.replicas = dataSource.getRepository(ReplicaEntity);
    this.images = dataSource.getRepository(ImageEntity);
    this.records = dataSource.getRepository(PeerTransferEntity);
  }

  /**
   * Takes up the transfers an earlier run of this gateway left open (called at start): each goes
   * on with its reservation and what it wrote, its idle clock running from the sender's last call;
   * those silent longer than TRANSFER_IDLE_MS are ended, their claims released.
   */
  async resumeOpen(): Promise<void> {
    for (const row of await this.records.find()) {
      const silentMs = Date.now() - row.lastSeenAt.getTime();
      const room = StorageReservation.resumed(this.quotas, row.groupId, PURPOSE, row.reservationId, row.reservationId ? await this.quotas.bytesOf(row.reservationId) : 0);
      this.transfers.set(row.id, { id: row.id, groupId: row.groupId, room, written: row.written, manifestId: row.manifestId, sent: new Set(), idle: this.idleTimer(row.id, Math.max(0, TRANSFER_IDLE_MS - silentMs)) });
      if (silentMs >= TRANSFER_IDLE_MS) await this.end(row.id);
    }
  }

  /**
   * The group whose token may call the peer store (a MEMBER or more of a group); FORBIDDEN
   * otherwise. Checked before a call's body is read, and again by `call`.
   */
  requireCaller(actor: Principal): { groupId: string } {
    const p = policy.requireAuthenticated(actor);
    if (!p.groupId) throw new ForbiddenError("Another site's replicas are kept for a group: use a token of the group the peering links");
    policy.requireRole(actor, p.groupId, MemberRole.MEMBER, "keep another site's replicas in this site's store");
    return { groupId: p.groupId };
  }

  /** One call of a peer site, as the token's group (MEMBER); BAD_USER_INPUT for an unknown call. */
  async call(actor: Principal, call: string, args: Record<string, unknown>): Promise<unknown> {
    const p = this.requireCaller(actor);
    switch (call) {
      case 'hasManifest':
        return this.hasManifest(p.groupId, manifestIdOf(args.manifestId), await this.openTransferOf(p.groupId, args.transfer));
      case 'missingChunks': {
        const ids = idsOf(args.ids);
        const held = await this.held(p.groupId, await this.openTransferOf(p.groupId, args.transfer));
        const missing = new Set(await this.place.missingChunks(ids));
        return ids.filter((id) => missing.has(id) || !held.has(id));
      }
      case 'checkChunks': {
        const ids = idsOf(args.ids);
        const held = await this.held(p.groupId, await this.openTransferOf(p.groupId, args.transfer));
        const check = await this.place.checkChunks(ids);
        // Not the group's: missing for it, whatever the store holds (and in what state).
        const absent = new Set(check.missing);
        return { missing: ids.filter((id) => absent.has(id) || !held.has(id)), damaged: check.damaged.filter((id) => held.has(id)), unverified: check.unverified.filter((id) => held.has(id)) };
      }
      case 'begin':
        return this.begin(p.groupId, args.bytes, args.imageDigest, args.environmentId);
      case 'putChunks':
        return this.putChunks(await this.transferOf(p.groupId, args.transfer), args.chunks);
      case 'putManifest':
        return this.putManifest(await this.transferOf(p.groupId, args.transfer), args.manifest as ArtifactManifest);
      case 'recordReplica':
        return this.record(p.groupId, await this.transferOf(p.groupId, args.transfer), args as unknown as PeerReplicaRecord);
      case 'abort':
        await this.end(String(args.transfer), p.groupId);
        return null;
      default:
        throw new BadInputError(`Unknown peer store call ${call}`, { call });
    }
  }

  /**
   * Begins a transfer of a replica of `bytes` for `groupId`: its bytes are reserved against the
   * group's storage quota now (CONFLICT `STORAGE_QUOTA` when they do not fit). Returns its id, which
   * every later call of the transfer names.
   */
  private async begin(groupId: string, bytes: unknown, imageDigest: unknown, environmentId: unknown): Promise<{ transfer: string }> {
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw new BadInputError('bytes must be the replica\'s size in bytes');
    const environment = environmentId === undefined || environmentId === null ? undefined : uuidOf(environmentId, 'environmentId');
    await this.imageFor(groupId, String(imageDigest));
    const room = await this.quotas.reserve(groupId, bytes, PURPOSE);
    const id = randomUUID();
    try {
      await this.records.insert({ id, groupId, reservationId: room.recordId, written: 0, manifestId: null, lastSeenAt: new Date() });
    } catch (e) {
      await room.release();
      throw e;
    }
    this.transfers.set(id, { id, groupId, room, written: 0, manifestId: null, sent: new Set(), ...(environment ? { environmentId: environment } : {}), idle: this.idleTimer(id) });
    return { transfer: id };
  }

  /** The open transfer of `groupId` a call names, if it names one (a sender before per-group answers names none). */
  private async openTransferOf(groupId: string, value: unknown): Promise<Transfer | undefined> {
    return value === undefined || value === null ? undefined : this.transferOf(groupId, value);
  }

  /**
   * The chunks `groupId` holds in this store: those of the manifests of its replicas kept here (of
   * the transfer's environment when `begin` named it: what a replica after the one before shares,
   * without holding every chunk of the group in memory) and those sent within `transfer` (read
   * once per transfer; without one, read for the call).
   */
  private async held(groupId: string, transfer?: Transfer): Promise<ReadonlySet<string>> {
    const ofReplicas = transfer ? (transfer.held ??= this.chunksOfReplicas(groupId, transfer.environmentId)) : this.chunksOfReplicas(groupId);
    const chunks = await ofReplicas;
    if (!transfer?.sent.size) return chunks;
    return { has: (id: string) => chunks.has(id) || transfer.sent.has(id) } as ReadonlySet<string>;
  }

  /** The chunks of the manifests of `groupId`'s replicas kept in this store (of `environmentId` only, when given). */
  private async chunksOfReplicas(groupId: string, environmentId?: string): Promise<ReadonlySet<string>> {
    const rows = await this.replicas.find({ select: { manifestId: true }, where: { groupId, storeHostId: IsNull(), peerSite: IsNull(), ...(environmentId ? { environmentId } : {}) } });
    const chunks = new Set<string>();
    for (const manifestId of new Set(rows.map((r) => r.manifestId))) {
      const manifest = await this.place.getManifest(manifestId).catch(() => undefined);
      for (const c of manifest?.chunks ?? []) chunks.add(c.hash);
    }
    return chunks;
  }

  /** Whether `groupId` holds manifest `manifestId` here: the manifest of a replica of its own kept here, or the one its transfer sent. */
  private async hasManifest(groupId: string, manifestId: string, transfer?: Transfer): Promise<boolean> {
    const ours = transfer?.manifestId === manifestId || (await this.replicas.existsBy({ groupId, manifestId, storeHostId: IsNull(), peerSite: IsNull() }));
    return ours && this.place.hasManifest(manifestId);
  }

  /** The open transfer `value` of `groupId` (its idle clock restarted, here and in its record); BAD_USER_INPUT when there is none. */
  private async transferOf(groupId: string, value: unknown): Promise<Transfer> {
    const t = isUuid(value) ? this.transfers.get(value) : undefined;
    if (!t || t.groupId !== groupId) throw new BadInputError('No such transfer open here: begin one first (its bytes are claimed from the group\'s storage quota)', { transfer: String(value) });
    clearTimeout(t.idle);
    t.idle = this.idleTimer(t.id);
    await this.records.update({ id: t.id }, { lastSeenAt: new Date() });
    return t;
  }

  private idleTimer(id: string, ms = TRANSFER_IDLE_MS): NodeJS.Timeout {
    const timer = setTimeout(() => void this.end(id).catch((e: unknown) => this.logger.warn({ err: e, transfer: id }, 'could not end an idle transfer of another site')), ms);
    timer.unref();
    return timer;
  }

  /** Ends a transfer without a replica: its reservation released (only the group's own, when `groupId` is given). */
  private async end(id: string, groupId?: string): Promise<void> {
    const t = this.transfers.get(id);
    if (!t || (groupId && t.groupId !== groupId)) return;
    this.transfers.delete(id);
    clearTimeout(t.idle);
    await t.room.release();
    await this.records.delete({ id });
  }

  /** Writes chunks whose bytes hash to their id (plaintext), at most MAX_BATCH_BYTES at once, within the transfer's reservation (grown when needed). */
  private async putChunks(transfer: Transfer, value: unknown): Promise<null> {
    if (!Array.isArray(value)) throw new BadInputError('chunks must be a list of { id, data }');
    const chunks = value as ChunkData[];
    let total = 0;
    for (const { id, data } of chunks) {
      if (typeof id !== 'string' || typeof data !== 'string') throw new BadInputError('chunks must be a list of { id, data }');
      const bytes = Buffer.from(data, 'base64');
      total += bytes.length;
      if (total > MAX_BATCH_BYTES) throw new BadInputError(`At most ${MAX_BATCH_BYTES} bytes of chunks at once`, { maxBytes: MAX_BATCH_BYTES });
      if (createHash('sha256').update(bytes).digest('hex') !== id) throw new IntegrityError('(peer copy)', id, 'its bytes do not hash to its id: only plaintext chunks are taken from another site');
    }
    await transfer.room.cover(transfer.written + total);
    transfer.written += total;
    await this.place.putChunks(chunks);
    for (const { id } of chunks) transfer.sent.add(id);
    await this.records.update({ id: transfer.id }, { written: transfer.written, reservationId: transfer.room.recordId, lastSeenAt: new Date() });
    return null;
  }

  /**
   * Writes a plaintext manifest whose chunks are all here and the group's (sent within this
   * transfer, or of its replicas here), as the transfer's: its id is the hash of its content, so
   * the sender has shown it knows the whole manifest, not only its id; and the chunks it names
   * the group has sent, so knowing their hashes alone claims nothing stored for others.
   */
  private async putManifest(transfer: Transfer, manifest: ArtifactManifest): Promise<null> {
    checkedManifestSize(manifest);
    if (manifest.encryption) throw new BadInputError(ENCRYPTED_REFUSAL);
    const held = await this.held(transfer.groupId, transfer);
    const foreign = manifest.chunks.find((c) => !held.has(c.hash));
    if (foreign) throw new BadInputError(`Chunk ${foreign.hash} of manifest ${manifest.id} was not sent in this transfer: send every chunk the store lacks for the group (missingChunks, checkChunks) before the manifest`, { manifestId: manifest.id, chunk: foreign.hash });
    await this.place.putManifest(manifest);
    transfer.manifestId = manifest.id;
    await this.records.update({ id: transfer.id }, { manifestId: manifest.id });
    return null;
  }

  /** This site's image of `digest` the group may use, its bits here; CONFLICT `IMAGE_MISSING` otherwise (import it first). */
  private async imageFor(groupId: string, digest: string): Promise<ImageEntity> {
    const image = (await this.images.findBy({ digest })).find((i) => i.contentProven && this.hasImageBits(digest) && policy.canUseImage({ kind: 'token', tokenId: 'peer', name: 'peer', groupId, role: MemberRole.MEMBER, siteAdmin: false }, i));
    if (!image) throw new ConflictError(`This site has no image of digest ${digest} the group may use: import it first (importImage), then replicate again`, { reason: 'IMAGE_MISSING', digest });
    return image;
  }

  /**
   * Records the replica whose manifest is here, in `groupId`, settling the transfer's reservation
   * (grown to the replica's bytes when needed) with the record; its environment is restored with this site's image of the same digest
   * (CONFLICT with `details.reason: IMAGE_MISSING` when the group may use none here: import it first).
   * What the sender says is checked, not trusted: the manifest must be the one this transfer wrote
   * (or one the group already holds), the replica's size is its manifest's (at least
   * what the transfer wrote), its environment is described as a create's input must be
   * (`checkedPeerSource`), and its counters are whole numbers within what was sent.
   */
  private async record(groupId: string, transfer: Transfer, r: PeerReplicaRecord): Promise<{ id: string }> {
    const manifestId = manifestIdOf(r.manifestId);
    // A manifest already here may be another group's: its id alone (which a replica list or a log may show) gives no right to it.
    if (transfer.manifestId !== manifestId && !(await this.replicas.existsBy({ groupId, manifestId }))) {
      throw new BadInputError(`Manifest ${manifestId} was not sent in this transfer: send it (putManifest) before recording its replica`, { manifestId });
    }
    if (!(await this.place.hasManifest(manifestId))) throw new BadInputError(`Manifest ${manifestId} is not in this site's store: send its chunks and manifest first`, { manifestId });
    const manifest = await this.place.getManifest(manifestId);
    if (manifest.encryption) throw new BadInputError(ENCRYPTED_REFUSAL, { manifestId });
    const bytes = Math.max(checkedManifestSize(manifest), transfer.written);
    const chunks = manifest.chunks.length;
    const environmentId = uuidOf(r.environmentId, 'environmentId');
    const source = checkedPeerSource(r.source);
    const [movedBytes, reusedChunks, writtenChunks] = [countOf(r.movedBytes, 'movedBytes'), countOf(r.reusedChunks, 'reusedChunks', chunks), countOf(r.writtenChunks, 'writtenChunks', chunks)];
    const image = await this.imageFor(groupId, String(r.imageDigest));
    const room = transfer.room;
    await room.cover(bytes);
    try {
      const saved = await this.dataSource.transaction(async (m) => {
        const row = await m.getRepository(ReplicaEntity).save(
          this.replicas.create({
            policyId: null,
            environmentId,
            groupId,
            layerId: null,
            kind: ReplicationKind.EXTERNAL,
            manifestId,
            bytes,
            newBytes: 0,
            chunks,
            encrypted: false,
            targetKind: ReplicationTargetKind.STORE,
            targetId: null,
            storeHostId: null,
            stagingHostId: null,
            movedBytes,
            reusedChunks,
            writtenChunks,
            repairedChunks: 0,
            source: { ...source, imageId: image.id },
            verifiedAt: null,
          }),
        );
        await room.settleWithin(m);
        await m.getRepository(PeerTransferEntity).delete({ id: transfer.id });
        return row;
      });
      this.logger.info({ replica: saved.id, group: groupId, bytes: saved.bytes, movedBytes: saved.movedBytes }, "kept another site's replica");
      return { id: saved.id };
    } finally {
      await this.end(transfer.id);
    }
  }
}

/** A manifest id as sent (64 hex digits). */
function manifestIdOf(value: unknown): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) throw new BadInputError('manifestId must be 64 hex digits');
  return value;
}

/** Chunk ids as sent: at most MAX_IDS. */
function idsOf(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_IDS || value.some((v) => typeof v !== 'string')) throw new BadInputError(`ids must be a list of at most ${MAX_IDS} chunk ids`);
  return value as string[];
}
