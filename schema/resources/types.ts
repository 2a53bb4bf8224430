import { Directive, Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from '../common/bounded-json';
import { capacityOf, ResourceEntity, ResourceSource, ResourceUnit } from '../../gateway/persistence/entities';
import { Connection } from '../common/connection';

registerEnumType(ResourceUnit, { name: 'ResourceUnit', description: 'Units of resource amounts.' });
registerEnumType(ResourceSource, { name: 'ResourceSource', description: "ADMIN: typed by a site admin, never touched by facts; FACTS: made from its host agent's facts, which keep its total up to date." });

/** A resource of a host: SRSM-2 description plus inventory. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A resource of a host (SRSM-2) with its inventory: capacity = (total − reserved) × allocationRatio.' })
export class Resource {
  @Field(() => ID)
  id: string;

  @Field(() => Int, { description: 'SRSM-2 numerical UID.' })
  uid: number;

  @Field(() => ID, { description: 'SRSM-2 node: the host.' })
  hostId: string;

  @Field({ description: 'CPU, RAM, DISK, NET_BANDWIDTH or a custom UPPER_CASE type.' })
  type: string;

  @Field()
  description: string;

  @Field(() => ResourceUnit)
  unit: ResourceUnit;

  @Field(() => Float, { description: 'SRSM-2 value: the amount in `unit` (= total).' })
  value(): number {
    return (this as unknown as ResourceEntity).total;
  }

  @Field(() => GraphQLJSONObject, { description: 'SRSM-2 value vector, e.g. { latency: "2ms" }.' })
  attributes: Record<string, unknown>;

  @Field(() => Float)
  total: number;

  @Field(() => Float)
  reserved: number;

  @Field(() => Float)
  allocationRatio: number;

  @Field(() => Float)
  minUnit: number;

  @Field(() => Float, { nullable: true })
  maxUnit: number | null;

  @Field(() => Float)
  stepSize: number;

  @Field(() => Float)
  used: number;

  @Field(() => Float)
  capacity(): number {
    return capacityOf(this as unknown as ResourceEntity);
  }

  @Field(() => Float)
  free(): number {
    const r = this as unknown as ResourceEntity;
    return capacityOf(r) - r.used;
  }

  @Field(() => ResourceSource, { description: "Who describes it: a site admin, or its host agent's facts (creating it by hand takes it over)." })
  source: ResourceSource;

  @Field(() => Int, { description: 'Optimistic version of the inventory.' })
  generation: number;
}

/** A requirement of a resource class. */
@ObjectType()
export class ClassRequirement {
  @Field()
  type: string;

  @Field(() => ResourceUnit)
  unit: string;

  @Field(() => Float)
  amount: number;
}

/** A named class of resources fitting a set of uses. */
@ObjectType({ description: 'A named class of resources with metadata fitting a set of uses.' })
export class ResourceClass {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field()
  description: string;

  @Field(() => [String])
  uses: string[];

  @Field(() => GraphQLJSONObject)
  metadata: Record<string, unknown>;

  @Field(() => [ClassRequirement])
  requirements: ClassRequirement[];
}

/** A page of resources. */
@ObjectType()
export class ResourceConnection extends Connection(Resource) {}
