import type { AlertState, OperationEntity } from '../persistence/entities';

/** An environment's status changed. */
export interface EnvironmentEventPayload {
  id: string;
  name: string;
  hostId: string;
  status: string;
}

/** A host's state changed (the failure detector marked it DOWN, or it came back UP). */
export interface HostEventPayload {
  id: string;
  hostname: string;
  state: string;
  lastHeartbeatAt: Date | null;
}

/** An alert fired or resolved. */
export interface AlertEventPayload {
  id: string;
  ruleId: string | null;
  state: AlertState;
  targetType: string;
  targetId: string;
  metric: string;
  value: number;
  threshold: number;
  message: string;
}

/** A replication run ended. */
export interface ReplicationEventPayload {
  policyId: string;
  policyName: string;
  environmentId: string;
  state: 'SUCCEEDED' | 'FAILED';
  replicaId: string | null;
  bytes: number | null;
  newBytes: number | null;
  /** Bytes copied to the store that keeps the replica (its target). */
  movedBytes: number | null;
  chunks: number | null;
  error: string | null;
}

/**
 * One entry of the `events` stream. Environment, host and alert events travel on the EVENT topic;
/** An allocation request waiting for approval was made, approved or rejected. */
export interface AllocationEventPayload {
  requestId: string;
  change: 'REQUESTED' | 'APPROVED' | 'REJECTED';
  /** The request's status after the change (PENDING, PLACED, REJECTED). */
  status: string;
  reason: string | null;
  decidedBy: string | null;
  /** The hosts and allocations placed (APPROVED only). */
  hostIds: string[];
  allocationIds: string[];
}

/**
 * One entry of the `events` stream. Environment, alert and allocation events travel on the EVENT topic;
 * operations arrive on their own topic and are wrapped as OPERATION events per subscriber.
 * Who may see one follows from `groupId` (members of that group) or, when null, site admins only.
 */
export interface RspEvent {
  kind: 'OPERATION' | 'ENVIRONMENT' | 'ALERT' | 'REPLICATION' | 'HOST' | 'ALLOCATION';
  /** Epoch milliseconds. */
  at: number;
  groupId: string | null;
  siteId: string | null;
  environment?: EnvironmentEventPayload;
  alert?: AlertEventPayload;
  host?: HostEventPayload;
  replication?: ReplicationEventPayload;
  allocation?: AllocationEventPayload;
  operation?: OperationEntity;
}
