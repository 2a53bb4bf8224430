import { Field, Float, ID, ObjectType } from 'type-graphql';
import { ResourceUnit } from '../../gateway/persistence/entities';

/** What a group offers. */
@ObjectType({ description: 'Capacity a group offers to others, with terms.' })
export class Offer {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID, { nullable: true })
  hostId: string | null;

  @Field()
  resourceType: string;

  @Field(() => ResourceUnit)
  unit: string;

  @Field(() => Float)
  amount: number;

  @Field()
  terms: string;
}

/** What a group needs. */
@ObjectType({ description: 'Capacity a group asks for.' })
export class Need {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  groupId: string;

  @Field()
  resourceType: string;

  @Field(() => ResourceUnit)
  unit: string;

  @Field(() => Float)
  amount: number;

  @Field(() => [String], { description: 'Acceptable technologies in order; empty = no preference.' })
  technologies: string[];

  @Field()
  description: string;
}

/** A need and the offers that cover it. */
@ObjectType()
export class SatisfiableNeed {
  @Field(() => Need)
  need: Need;

  @Field(() => [Offer])
  offers: Offer[];

  @Field(() => Float)
  offered: number;
}
