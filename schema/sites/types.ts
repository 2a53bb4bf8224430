import { Directive, Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from '../common/bounded-json';
import { HostState, PlacementPolicy } from '../../gateway/persistence/entities';
import { AgentConnectionState } from '../../gateway/services/agent-connection-service';
import { Connection } from '../common/connection';

registerEnumType(HostState, { name: 'HostState', description: 'UNKNOWN until its agent\'s first heartbeat; UP while its agent beats; DOWN when silent past the threshold (fenced, failed over); MAINTENANCE set by an admin.' });
registerEnumType(AgentConnectionState, { name: 'AgentConnectionState', description: 'CONNECTED: its agent holds a connection to a gateway now; DISCONNECTED: it did once; NEVER: it never connected.' });

/** A host's agent and its connection. */
@ObjectType({ description: "A host's agent: its connection to the gateways and its last heartbeat." })
export class AgentConnection {
  @Field({ description: 'The agent id.' })
  agentId: string;

  @Field(() => AgentConnectionState)
  state: AgentConnectionState;

  @Field(() => String, { nullable: true, description: 'The RSP version the agent runs (at its last connection).' })
  version: string | null;

  @Field(() => Int, { nullable: true, description: 'The agent protocol version its last connection negotiated (N or N−1 of the gateway that held it; null before it connected, or when recorded by a gateway older than this field).' })
  protocol: number | null;

  @Field(() => Date, { nullable: true, description: 'When its last connection opened.' })
  connectedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'Its last heartbeat heard on any of its hosts.' })
  lastHeartbeatAt: Date | null;
}
registerEnumType(PlacementPolicy, { name: 'PlacementPolicy', description: 'BINPACK fills hosts up; SPREAD evens the load.' });

/** A physical location. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A physical location; hosts belong to one.' })
export class Site {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field()
  location: string;

  @Field(() => ID)
  ownerGroupId: string;

  @Field(() => PlacementPolicy)
  placementPolicy: PlacementPolicy;
}

/** A physical machine. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A physical machine: the bottom (MACHINE) layer of every stack on it.' })
export class Host {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  siteId: string;

  @Field(() => ID)
  ownerGroupId: string;

  @Field()
  hostname: string;

  @Field()
  arch: string;

  @Field(() => HostState)
  state: HostState;

  @Field(() => [String], { description: "The technologies placement offers on it: those its agent's probe found usable, narrowed by allowedDrivers (as declared while its agent never reported)." })
  drivers: string[];

  @Field(() => [String], { nullable: true, description: "The technologies its agent's last probe found usable; null until the agent reported." })
  probedDrivers: string[] | null;

  @Field(() => [String], { nullable: true, description: 'The site admin\'s narrowing of the probed technologies, in order of preference; null: all of them.' })
  allowedDrivers: string[] | null;

  @Field(() => GraphQLJSONObject)
  fingerprint: Record<string, unknown>;

  @Field({ description: "Whether its resources (CPU, RAM, DISK, NET_BANDWIDTH) are filled from its agent's facts, their totals kept up to date; resources typed by hand are never touched." })
  inventoryFromFacts: boolean;

  @Field(() => Int, { description: 'How many full shares the host is divided into.' })
  shareUnits: number;

  @Field(() => ID, { nullable: true, description: 'Its MACHINE layer.' })
  layerId: string | null;

  @Field({ description: 'The host agent that runs its drivers (`local`: the gateway\'s own).' })
  agent: string;

  @Field(() => Date, { nullable: true, description: 'Last heartbeat of its agent; silent past the threshold, the host is marked DOWN and fenced.' })
  lastHeartbeatAt: Date | null;
}

/** A page of sites. */
@ObjectType()
export class SiteConnection extends Connection(Site) {}

/** A page of hosts. */
@ObjectType()
export class HostConnection extends Connection(Host) {}
