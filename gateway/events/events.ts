import type { AlertState, OperationEntity, OperationState } from '../persistence/entities';

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
  /** ISO 8601. */
  lastHeartbeatAt: string | null;
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

/** An offer was accepted or a need granted: a share of a host passed from one group to another. */
export interface ExchangeEventPayload {
  change: 'OFFER_ACCEPTED' | 'NEED_GRANTED';
  /** The share the receiving group holds on the host now (new or enlarged). */
  shareId: string;
  hostId: string;
  /** The group whose host it is (the offering one). */
  fromGroupId: string;
  /** The group that received the share. */
  toGroupId: string;
  offerId: string | null;
  needId: string | null;
  resourceType: string;
  unit: string;
  amount: number;
}

/**
 * An operation as the `events` stream carries it: the fields the subscription resolves, as plain
 * data (dates as ISO 8601 strings), so an event crosses the bus or a network as JSON unchanged.
 */
export interface OperationEventPayload {
  id: string;
  kind: string;
  targetType: string | null;
  targetId: string | null;
  groupId: string | null;
  state: OperationState;
  progress: number;
  message: string | null;
  result: Record<string, unknown> | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * The `events` entry of an operation's row. Across replicas the OPERATION_UPDATED topic delivers
 * the row JSON-decoded (its dates already strings), so both forms are taken.
 */
export function operationEventPayload(op: OperationEntity): OperationEventPayload {
  return {
    id: op.id,
    kind: op.kind,
    targetType: op.targetType,
    targetId: op.targetId,
    groupId: op.groupId,
    state: op.state,
    progress: op.progress,
    message: op.message,
    result: op.result,
    errorCode: op.errorCode,
    errorMessage: op.errorMessage,
    createdAt: isoOf(op.createdAt)!,
    updatedAt: isoOf(op.updatedAt)!,
    startedAt: isoOf(op.startedAt),
    finishedAt: isoOf(op.finishedAt),
  };
}

/** A date as ISO 8601 (a string is taken as one already). */
function isoOf(value: Date | string | null): string | null {
  if (value === null) return null;
  return typeof value === 'string' ? value : value.toISOString();
}

/**
 * One entry of the `events` stream. Environment, host, alert, replication, allocation and exchange events travel on the EVENT topic;
 * operations arrive on their own topic and are wrapped as OPERATION events per subscriber.
 * Who may see one follows from `groupId` (members of that group) or, when null, site admins only.
 * Every entry is plain data: it survives JSON.stringify/parse unchanged.
 */
export interface RspEvent {
  kind: 'OPERATION' | 'ENVIRONMENT' | 'ALERT' | 'REPLICATION' | 'HOST' | 'ALLOCATION' | 'EXCHANGE';
  /** Epoch milliseconds. */
  at: number;
  groupId: string | null;
  siteId: string | null;
  environment?: EnvironmentEventPayload;
  alert?: AlertEventPayload;
  host?: HostEventPayload;
  replication?: ReplicationEventPayload;
  allocation?: AllocationEventPayload;
  exchange?: ExchangeEventPayload;
  operation?: OperationEventPayload;
}
