import { Operations1764000000000 } from './1764000000000-operations';
import { UnifiedSchema1764000100000 } from './1764000100000-unified-schema';
import { Environments1764000200000 } from './1764000200000-environments';
import { Placement1764000300000 } from './1764000300000-placement';
import { Metrics1764000400000 } from './1764000400000-metrics';
import { Replication1764000500000 } from './1764000500000-replication';
import { UsageDisk1764000600000 } from './1764000600000-usage-disk';
import { EnvironmentAllocation1764000700000 } from './1764000700000-environment-allocation';
import { PlacementLostRace1764000800000 } from './1764000800000-placement-lost-race';
import { ReplicaStores1764000900000 } from './1764000900000-replica-stores';
import { HostProbedDrivers1764001800000 } from './1764001800000-host-probed-drivers';

/** Every migration, oldest first. A new migration is added here and nowhere else. */
export const migrations = [Operations1764000000000, UnifiedSchema1764000100000, Environments1764000200000, Placement1764000300000, Metrics1764000400000, Replication1764000500000, UsageDisk1764000600000, EnvironmentAllocation1764000700000, PlacementLostRace1764000800000, ReplicaStores1764000900000, HostProbedDrivers1764001800000];
