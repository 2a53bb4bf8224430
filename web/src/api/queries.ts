/**
 * The GraphQL documents the dashboard sends and the shapes it reads back, all generated
 * (client/generated/graphql.ts, `npm run codegen`) from schema.graphql and the documents in
 * web/src/api/operations/ and client/ (the fragments and operations the CLI shares). This file
 * only names the shapes the views pass around; a field is added in its fragment, not here.
 */
import type {
  AlertFieldsFragment,
  EnvironmentFieldsFragment,
  EnvironmentSampleFieldsFragment,
  EventFieldsFragment,
  GroupFieldsFragment,
  HostFieldsFragment,
  HostSampleFieldsFragment,
  NeedFieldsFragment,
  OfferFieldsFragment,
  OperationFieldsFragment,
  ReplicaFieldsFragment,
  ReplicationPolicyFieldsFragment,
  ResourceFieldsFragment,
  SiteFieldsFragment,
  SiteSampleFieldsFragment,
} from '../../../client/generated/graphql';

export * from '../../../client/generated/graphql';

/** An operation as shown with its progress. */
export type Operation = OperationFieldsFragment;

/** The operation states after which nothing changes. */
export const TERMINAL_STATES = new Set<Operation['state']>(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** An environment as listed. */
export type Environment = EnvironmentFieldsFragment;

/** A host's resource with its inventory. */
export type Resource = ResourceFieldsFragment;

/** A host as listed, with its resources. */
export type Host = HostFieldsFragment & { resources: Resource[] };

/** A site with its hosts. */
export type Site = SiteFieldsFragment & { hosts: { nodes: Host[] } };

/** A group and what it offers and needs. */
export type Group = GroupFieldsFragment;

/** Capacity offered by a group. */
export type Offer = OfferFieldsFragment;

/** Capacity asked for by a group. */
export type Need = NeedFieldsFragment;

/** An alert. */
export type Alert = AlertFieldsFragment;

/** A live host sample. */
export type HostSample = HostSampleFieldsFragment;

/** A live environment sample. */
export type EnvironmentSample = EnvironmentSampleFieldsFragment;

/** A live sample of a site: its hosts and environments added up. */
export type SiteSample = SiteSampleFieldsFragment;

/** A replication policy with the Proxmox-style status of its runs. */
export type ReplicationPolicy = ReplicationPolicyFieldsFragment;

/** Where a policy's replicas go: a host, any host of a site or group, or only the artifact store. */
export type ReplicationTarget = ReplicationPolicy['target'];

/** A replica in the artifact store. */
export type Replica = ReplicaFieldsFragment;

/** An entry of the events stream. */
export type RspEvent = EventFieldsFragment;
