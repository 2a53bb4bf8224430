import type { LayerEntity } from '../persistence/entities';
import { ReplicationKind } from '../persistence/entities';

/**
 * The seed-000 rule: "a layer replicates itself and the layers above it, never the layers
 * below". A policy names the layer that replicates and the environment (a ZONE layer) whose
 * content the replicas hold:
 * - EXTERNAL replicas are the whole environment, made from outside: the replicating layer must
 *   be the environment's ZONE layer or a layer beneath it (its host's MACHINE layer…), which
 *   then copies itself and what sits above it;
 * - INTERNAL replicas are what a command inside the environment produces: the replicating
 *   layer must be the ZONE layer or a layer above it (a SERVICE in the environment), which
 *   then copies itself — never the host beneath.
 * Returns why the policy breaks the rule, or null when it holds.
 */
export function layerRuleViolation(kind: ReplicationKind, replicating: LayerEntity, zoneChainTopFirst: LayerEntity[], replicatingChainTopFirst: LayerEntity[]): string | null {
  const zone = zoneChainTopFirst[0]!;
  const describe = (l: LayerEntity) => `${l.kind} layer "${l.name}"`;
  const zoneOrBelow = zoneChainTopFirst.some((l) => l.id === replicating.id);
  const zoneOrAbove = replicatingChainTopFirst.some((l) => l.id === zone.id);
  if (!zoneOrBelow && !zoneOrAbove) {
    return `${describe(replicating)} is not in the layer stack of the environment (${describe(zone)}): a layer replicates itself and the layers above it, never layers elsewhere`;
  }
  if (kind === ReplicationKind.EXTERNAL && !zoneOrBelow) {
    return `${describe(replicating)} sits above the environment's ${describe(zone)}; an EXTERNAL replica copies the whole environment, and a layer replicates itself and the layers above it, never the layers below (seed 000). Attach the policy to the ZONE layer or a layer beneath it, or use INTERNAL to copy only what this layer holds`;
  }
  if (kind === ReplicationKind.INTERNAL && !zoneOrAbove) {
    return `${describe(replicating)} lies below the environment's ${describe(zone)}; an INTERNAL replica is made from inside the environment, and a layer replicates itself and the layers above it, never the layers below (seed 000). Attach an INTERNAL policy to the ZONE layer or a layer above it, or use EXTERNAL for a copy made by the host`;
  }
  return null;
}
