import type { VerifyReport } from '../artifacts/artifact-store';
import type { ArtifactPlace, ChunkData } from '../artifacts/chunk-transport';
import type { ArtifactManifest } from '../artifacts/manifest';
import { callContext } from './call-context';
import type { HostAgent } from './host-agent';

/**
 * A host agent's artifact store, seen from the gateway through the agent's calls: the chunk
 * transport `copyArtifact` moves replicas with, and the upkeep replication needs. Calls made under
 * `signal` are cancelled on the agent when it aborts.
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
    return this.agent.hasArtifact({ manifestId }, this.context());
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

  getChunks(ids: string[]): Promise<ChunkData[]> {
    return this.agent.getChunks({ ids }, this.context());
  }

  putChunks(chunks: ChunkData[]): Promise<void> {
    return this.agent.putChunks({ chunks }, this.context());
  }

  deleteManifest(manifestId: string): Promise<void> {
    return this.agent.deleteArtifact({ manifestId }, this.context());
  }

  gc(): Promise<{ removedChunks: number; freedBytes: number }> {
    return this.agent.collectArtifacts({}, this.context());
  }

  verify(manifestId: string, key?: Buffer): Promise<VerifyReport> {
    return this.agent.verifyArtifact({ manifestId, ...(key ? { key: key.toString('base64') } : {}) }, this.context());
  }

  private context() {
    return callContext(this.agent, { signal: this.signal });
  }
}
