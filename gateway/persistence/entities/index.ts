import { AgentConnectionEntity } from './agent-connection.entity';
import { AgentCredentialEntity } from './agent-credential.entity';
import { AllocationClaimEntity, AllocationEntity, AllocationRequestEntity } from './allocation.entity';
import { ApiTokenEntity } from './api-token.entity';
import { EnvironmentEntity } from './environment.entity';
import { GroupEntity } from './group.entity';
import { HostEntity } from './host.entity';
import { ImageEntity } from './image.entity';
import { LayerEntity } from './layer.entity';
import { EnvironmentAddressEntity, HostPortEntity } from './network.entity';
import { AlertEntity, AlertRuleEntity, MetricSampleEntity, UsageRecordEntity } from './metric.entity';
import { NeedEntity, OfferEntity } from './offer-need.entity';
import { OperationEntity } from './operation.entity';
import { ReplicaEntity, ReplicationPolicyEntity } from './replication.entity';
import { ResourceClassEntity } from './resource-class.entity';
import { ResourceEntity } from './resource.entity';
import { ShareEntity, UsagePolicyEntity, UsageThrottleEntity } from './share.entity';
import { SiteEntity } from './site.entity';
import { EnvironmentSnapshotEntity } from './snapshot.entity';
import { PeerTransferEntity } from './peer-transfer.entity';
import { StorageReservationEntity } from './storage-reservation.entity';

export * from './peer-transfer.entity';
export * from './agent-connection.entity';
export * from './agent-credential.entity';
export * from './allocation.entity';
export * from './api-token.entity';
export * from './environment.entity';
export * from './group.entity';
export * from './host.entity';
export * from './image.entity';
export * from './layer.entity';
export * from './metric.entity';
export * from './network.entity';
export * from './offer-need.entity';
export * from './operation.entity';
export * from './replication.entity';
export * from './resource-class.entity';
export * from './resource.entity';
export * from './share.entity';
export * from './site.entity';
export * from './snapshot.entity';
export * from './storage-reservation.entity';

/** Every entity the data source knows. A new entity is added here and nowhere else. */
export const entities = [
  OperationEntity,
  GroupEntity,
  ApiTokenEntity,
  SiteEntity,
  HostEntity,
  ResourceEntity,
  ResourceClassEntity,
  OfferEntity,
  NeedEntity,
  ShareEntity,
  UsagePolicyEntity,
  UsageThrottleEntity,
  LayerEntity,
  ImageEntity,
  EnvironmentEntity,
  EnvironmentSnapshotEntity,
  MetricSampleEntity,
  AlertRuleEntity,
  AlertEntity,
  UsageRecordEntity,
  AllocationRequestEntity,
  AllocationEntity,
  AllocationClaimEntity,
  ReplicationPolicyEntity,
  ReplicaEntity,
  AgentCredentialEntity,
  AgentConnectionEntity,
  EnvironmentAddressEntity,
  HostPortEntity,
  StorageReservationEntity,
  PeerTransferEntity,
];
