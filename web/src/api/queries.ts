/** The GraphQL documents the dashboard sends, and the shapes it reads back. */

/** An operation as shown with its progress. */
export interface Operation {
  id: string;
  kind: string;
  targetType: string | null;
  targetId: string | null;
  state: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  progress: number;
  message: string | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** The operation states after which nothing changes. */
export const TERMINAL_STATES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

const OPERATION_FIELDS = 'id kind targetType targetId state progress message error { code message } createdAt updatedAt finishedAt';

/** An environment as listed. */
export interface Environment {
  id: string;
  name: string;
  groupId: string;
  hostId: string;
  driver: string;
  technology: string;
  imageId: string;
  status: string;
  drift: string | null;
  lastError: string | null;
  createdAt: string;
  limits: { cpuWeight: number | null; cpuQuota: number | null; memoryBytes: number | null; diskBytes: number | null; networkBitsPerSecond: number | null; pids: number | null };
  iface: { hostname: string; network: string };
}

const ENVIRONMENT_FIELDS = 'id name groupId hostId driver technology imageId status drift lastError createdAt limits { cpuWeight cpuQuota memoryBytes diskBytes networkBitsPerSecond pids } iface { hostname network }';

/** A host's resource with its inventory. */
export interface Resource {
  id: string;
  hostId: string;
  type: string;
  unit: string;
  description: string;
  total: number;
  reserved: number;
  capacity: number;
  used: number;
  free: number;
}

const RESOURCE_FIELDS = 'id hostId type unit description total reserved capacity used free';

/** A host as listed. */
export interface Host {
  id: string;
  siteId: string;
  ownerGroupId: string;
  hostname: string;
  arch: string;
  state: string;
  drivers: string[];
  shareUnits: number;
  lastHeartbeatAt: string | null;
  resources: Resource[];
}

const HOST_FIELDS = `id siteId ownerGroupId hostname arch state drivers shareUnits lastHeartbeatAt resources { ${RESOURCE_FIELDS} }`;

/** A site with its hosts. */
export interface Site {
  id: string;
  name: string;
  location: string;
  ownerGroupId: string;
  placementPolicy: string;
  hosts: { nodes: Host[] };
}

/** A group and what it offers and needs. */
export interface Group {
  id: string;
  slug: string;
  name: string;
  description: string;
  contact: string | null;
  labor: Array<{ kind: string; people: number; hoursPerWeek: number }>;
  techHosts: string[];
  techNeeds: string[];
  noTechPreference: boolean;
  externalBackups: boolean;
}

/** Capacity offered by a group. */
export interface Offer {
  id: string;
  groupId: string;
  hostId: string | null;
  resourceType: string;
  unit: string;
  amount: number;
  terms: string;
}

/** Capacity asked for by a group. */
export interface Need {
  id: string;
  groupId: string;
  resourceType: string;
  unit: string;
  amount: number;
  technologies: string[];
  description: string;
}

/** An alert. */
export interface Alert {
  id: string;
  targetType: string;
  targetId: string;
  metric: string;
  value: number;
  threshold: number;
  state: 'FIRING' | 'RESOLVED';
  message: string;
  firedAt: string | null;
  resolvedAt: string | null;
}

const ALERT_FIELDS = 'id targetType targetId metric value threshold state message firedAt resolvedAt';

/** A live host sample (the fields the charts use). */
export interface HostSample {
  hostId: string;
  at: string;
  cpu: { usage: number; cores: number[] };
  load: { one: number; five: number; fifteen: number };
  memory: { totalBytes: number; usedBytes: number; availableBytes: number };
  networks: Array<{ interface: string; rxBytesPerSecond: number; txBytesPerSecond: number }>;
  disks: Array<{ device: string; readBytesPerSecond: number; writeBytesPerSecond: number }>;
}

/** A live environment sample. */
export interface EnvironmentSample {
  environmentId: string;
  at: string;
  cpuUsage: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  networkRxBytesPerSecond: number;
  networkTxBytesPerSecond: number;
  pids: number | null;
}

/** A live sample of a site: its hosts and environments added up. */
export interface SiteSample {
  siteId: string;
  at: string;
  hosts: number;
  environments: number;
  cpuUsage: number;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  networkRxBytesPerSecond: number;
  networkTxBytesPerSecond: number;
}

/** Where a policy's replicas go: a host, any host of a site or group, or only the artifact store. */
export interface ReplicationTarget {
  kind: 'HOST' | 'SITE' | 'GROUP' | 'STORE';
  id: string | null;
}

/** A replication policy with the Proxmox-style status of its runs. */
export interface ReplicationPolicy {
  id: string;
  name: string;
  groupId: string;
  environmentId: string;
  target: ReplicationTarget;
  schedule: string;
  keep: number;
  kind: 'EXTERNAL' | 'INTERNAL';
  autoFailover: boolean;
  encrypted: boolean;
  enabled: boolean;
  createdAt: string;
  status: {
    state: 'OK' | 'FAILED' | 'RUNNING' | 'PENDING' | 'DISABLED';
    lastSyncAt: string | null;
    lastTryAt: string | null;
    lastDurationMs: number | null;
    failCount: number;
    nextRunAt: string | null;
    lastError: string | null;
    runningOperationId: string | null;
  };
}

const REPLICATION_POLICY_FIELDS = 'id name groupId environmentId target { kind id } schedule keep kind autoFailover encrypted enabled createdAt status { state lastSyncAt lastTryAt lastDurationMs failCount nextRunAt lastError runningOperationId }';

/** A replica in the artifact store. */
export interface Replica {
  id: string;
  policyId: string | null;
  environmentId: string;
  environmentName: string;
  kind: 'EXTERNAL' | 'INTERNAL';
  bytes: number;
  newBytes: number;
  chunks: number;
  encrypted: boolean;
  target: ReplicationTarget;
  createdAt: string;
  verifiedAt: string | null;
}

const REPLICA_FIELDS = 'id policyId environmentId environmentName kind bytes newBytes chunks encrypted target { kind id } createdAt verifiedAt';

/** A replication run that ended (an entry of the events stream). */
export interface ReplicationRun {
  policyId: string;
  policyName: string;
  environmentId: string;
  state: 'SUCCEEDED' | 'FAILED';
  replicaId: string | null;
  error: string | null;
}

/** An entry of the events stream. */
export interface RspEvent {
  kind: 'OPERATION' | 'ENVIRONMENT' | 'ALERT' | 'REPLICATION';
  at: string;
  operation: Operation | null;
  environment: { id: string; name: string; hostId: string; status: string } | null;
  alert: Alert | null;
  replication: ReplicationRun | null;
}

export const VIEWER = 'query Viewer { viewer { authenticated tokenId name groupId role siteAdmin } gateway { site version } }';

export const GROUP_NAMES = 'query GroupNames { groups(first: 500) { nodes { id name } } }';

export const OVERVIEW = `query Overview {
  sites(first: 500) { totalCount nodes { id name hosts(first: 500) { nodes { id state } } } }
  environments(first: 500) { totalCount nodes { id status } }
  alerts(first: 100, state: FIRING) { ${ALERT_FIELDS} }
  operations(first: 8) { nodes { ${OPERATION_FIELDS} } }
}`;

export const GROUPS = `query Groups {
  groups(first: 500) { nodes { id slug name description contact labor { kind people hoursPerWeek } techHosts techNeeds noTechPreference externalBackups } }
  offers { id groupId hostId resourceType unit amount terms }
  needs { id groupId resourceType unit amount technologies description }
}`;

export const SITES = `query Sites {
  sites(first: 500) { nodes { id name location ownerGroupId placementPolicy hosts(first: 500) { nodes { ${HOST_FIELDS} } } } }
  environments(first: 500) { nodes { ${ENVIRONMENT_FIELDS} } }
}`;

export const HOST = `query Host($id: ID!) {
  host(id: $id) { ${HOST_FIELDS} }
  environments(first: 500, hostId: $id) { nodes { ${ENVIRONMENT_FIELDS} } }
}`;

export const ENVIRONMENT = `query Environment($id: ID!, $target: String!) {
  environment(id: $id) { ${ENVIRONMENT_FIELDS} volumes { name kind mountPath readOnly } }
  operations(first: 20, targetId: $target) { nodes { ${OPERATION_FIELDS} } }
}`;

export const CAPACITY = `query Capacity {
  resources(first: 500) { nodes { ${RESOURCE_FIELDS} } }
  hosts(first: 500) { nodes { id hostname siteId state } }
}`;

export const OPERATIONS = `query Operations { operations(first: 100) { totalCount nodes { ${OPERATION_FIELDS} } } }`;

export const OPERATION = `query Operation($id: ID!) { operation(id: $id) { ${OPERATION_FIELDS} } }`;

export const ALERTS = `query Alerts { alerts(first: 200) { ${ALERT_FIELDS} } }`;

export const ENVIRONMENT_ACTIONS = {
  start: `mutation Start($id: ID!) { op: startEnvironment(id: $id) { ${OPERATION_FIELDS} } }`,
  stop: `mutation Stop($id: ID!) { op: stopEnvironment(id: $id) { ${OPERATION_FIELDS} } }`,
  restart: `mutation Restart($id: ID!) { op: restartEnvironment(id: $id) { ${OPERATION_FIELDS} } }`,
} as const;

export const HOST_METRICS = `subscription HostMetrics($id: ID!) {
  hostMetrics(hostId: $id) { hostId at cpu { usage cores } load { one five fifteen } memory { totalBytes usedBytes availableBytes } networks { interface rxBytesPerSecond txBytesPerSecond } disks { device readBytesPerSecond writeBytesPerSecond } }
}`;

export const ENVIRONMENT_METRICS = `subscription EnvironmentMetrics($id: ID!) {
  environmentMetrics(environmentId: $id) { environmentId at cpuUsage memoryBytes memoryLimitBytes networkRxBytesPerSecond networkTxBytesPerSecond pids }
}`;

export const SITE_METRICS = `subscription SiteMetrics($id: ID!) {
  siteMetrics(siteId: $id) { siteId at hosts environments cpuUsage memoryTotalBytes memoryUsedBytes networkRxBytesPerSecond networkTxBytesPerSecond }
}`;

export const SITE_NAMES = 'query SiteNames { sites(first: 20) { nodes { id name location } } }';

export const OPERATION_UPDATED = `subscription OperationUpdated($id: ID) { operationUpdated(id: $id) { ${OPERATION_FIELDS} } }`;

export const EVENTS = `subscription Events {
  events { kind at operation { ${OPERATION_FIELDS} } environment { id name hostId status } alert { ${ALERT_FIELDS} } replication { policyId policyName environmentId state replicaId error } }
}`;

export const REPLICATION = `query Replication($environmentId: ID) {
  replicationPolicies(environmentId: $environmentId) { ${REPLICATION_POLICY_FIELDS} }
  replicas(environmentId: $environmentId) { ${REPLICA_FIELDS} }
  environments(first: 500) { nodes { id name hostId } }
  hosts(first: 500) { nodes { id hostname } }
  sites(first: 500) { nodes { id name } }
}`;

export const ENVIRONMENT_REPLICATION = `query EnvironmentReplication($id: ID!) {
  replicationPolicies(environmentId: $id) { id name target { kind id } schedule status { state lastSyncAt failCount } }
  replicas(environmentId: $id) { id policyId }
  hosts(first: 500) { nodes { id hostname } }
  sites(first: 500) { nodes { id name } }
}`;

export const REPLICATE_NOW = `mutation ReplicateNow($id: ID!) { op: replicateNow(policyId: $id) { ${OPERATION_FIELDS} } }`;
