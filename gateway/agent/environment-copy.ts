import type { ImageRef } from '../../drivers/contract';
import { copyArtifact } from '../artifacts/chunk-copy';
import type { Logger } from '../logging/logger';
import { AgentArtifacts } from './agent-artifacts';
import { callContext } from './call-context';
import type { EnvironmentTarget, HostAgent } from './host-agent';
import type { EnvironmentInfoData, EnvironmentRequest } from './protocol';

/** Options of `copyEnvironment`. */
export interface CopyEnvironmentOptions {
  signal?: AbortSignal;
  operationId?: string;
  onProgress?(fraction: number, message: string): void;
  logger?: Logger;
}

/**
 * Copies an environment to another (or the same) agent as a new one: exported into the source
 * agent's store, its chunks the target's store lacks copied there, imported from it as `request`;
 * the temporary artifact is then removed from both stores (and their unreferenced chunks collected).
 */
export async function copyEnvironment(from: HostAgent, to: HostAgent, source: EnvironmentTarget, request: EnvironmentRequest, image: ImageRef, options: CopyEnvironmentOptions = {}): Promise<EnvironmentInfoData> {
  const { signal, operationId, onProgress } = options;
  const exported = await from.exportEnvironment({ ...source, labels: { environment: source.environmentId, copy: request.id } }, callContext(from, { signal, operationId }));
  const places = from === to ? [from] : [from, to];
  try {
    if (from !== to) {
      onProgress?.(0.3, `copying ${exported.bytes} bytes to host agent ${to.id}`);
      await copyArtifact(new AgentArtifacts(from, signal), new AgentArtifacts(to, signal), exported.manifestId, { signal });
    }
    onProgress?.(0.6, `importing as ${request.id}`);
    return await to.importEnvironment({ driver: source.driver, artifact: { manifestId: exported.manifestId }, environment: request, image }, callContext(to, { signal, operationId }));
  } finally {
    for (const agent of places) {
      await agent
        .deleteArtifact({ manifestId: exported.manifestId }, callContext(agent))
        .then(() => agent.collectArtifacts({}, callContext(agent)))
        .catch((e: unknown) => options.logger?.warn({ err: e, agent: agent.id, manifestId: exported.manifestId }, "could not remove a copy's temporary export"));
    }
  }
}
