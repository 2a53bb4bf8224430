import type { ChunkCheck, VerifyReport } from '../artifacts/artifact-store';
import type { ArtifactPlace, ChunkData } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import type { ScrubPace } from '../artifacts/read-pacer';
import { callContext } from './call-context';
import type { HostAgent } from './host-agent';

/**
 * A host agent's artifact store, seen from the gateway through the agent's calls: the chunk
 * transport `copyArtifact` moves replicas with, and the upkeep replication needs. The calls that
 * move or read bulk data are cancelled on the agent when `signal` aborts; the small ones a revert
 * needs (has, delete, collect) are not, so a cancelled run can still clean up after itself.
 */
export class AgentArtifacts implements ArtifactPlace {
  readonly location: string;

  constructor(
    readonly agent: HostAgent,
    private readonly signal?: AbortSignal,
  ) {
    this.location = `host agent ${agent.id}`;
  }

  hasManifest(manifestId: string): Promise<boolean> {
    return this.agent.hasArtifact({ manifestId }, callContext(this.agent));
  }

  getManifest(manifestId: string): Promise<ArtifactManifest> {
    return this.agent.getManifest({ manifestId }, this.context());
  }

  putManifest(manifest: ArtifactManifest): Promise<void> {
    return this.agent.putManifest({ manifest }, this.context());
  }

  missingChunks(ids: string[]): Promise<string[]> {
    return this.agent.missingChunks({ ids }, this.context());
  }

  checkChunks(ids: string[]): Promise<ChunkCheck> {
    return this.agent.checkChunks({ ids }, this.context());
  }

  getChunks(ids: string[]): Promise<ChunkData[]> {
    return this.agent.getChunks({ ids }, this.context());
  }

  putChunks(chunks: ChunkData[]): Promise<void> {
    return this.agent.putChunks({ chunks }, this.context());
  }

  deleteManifest(manifestId: string): Promise<void> {
    return this.agent.deleteArtifact({ manifestId }, callContext(this.agent));
  }

  gc(): Promise<{ removedChunks: number; freedBytes: number }> {
    return this.agent.collectArtifacts({}, callContext(this.agent));
  }

  verify(manifestId: string, key?: Buffer): Promise<VerifyReport> {
    return this.agent.verifyArtifact({ manifestId, ...(key ? { key: key.toString('base64') } : {}) }, this.context());
  }

  scrub(manifestId: string, key?: Buffer, pace?: ScrubPace): Promise<VerifyReport> {
    const { bytesPerSecond, floorBytesPerSecond } = pace ?? {};
    return this.agent.scrubArtifact({ manifestId, ...(key ? { key: key.toString('base64') } : {}), ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}), ...(floorBytesPerSecond ? { floorBytesPerSecond } : {}) }, this.context());
  }

  private context() {
    return callContext(this.agent, { signal: this.signal });
  }
}
