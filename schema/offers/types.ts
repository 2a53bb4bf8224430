import { Field, Float, ID, ObjectType, registerEnumType } from 'type-graphql';
import { ExchangeStatus, ResourceUnit } from '../../gateway/persistence/entities';
import { Share } from '../shares/types';

registerEnumType(ExchangeStatus, { name: 'ExchangeStatus', description: 'OPEN while something of an offer or need is left; CLOSED once it is all taken or covered.' });

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

  @Field(() => Float, { description: 'The amount first offered.' })
  amount: number;

  @Field(() => Float, { description: 'What acceptances and grants have not taken yet.' })
  remaining: number;

  @Field(() => ExchangeStatus)
  status: ExchangeStatus;

  @Field(() => [String], { description: 'Technologies the offer is for, each run by its host; empty = whatever the host runs.' })
  technologies: string[];

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

  @Field(() => Float, { description: 'The amount first asked for.' })
  amount: number;

  @Field(() => Float, { description: 'What grants and acceptances have not covered yet.' })
  remaining: number;

  @Field(() => ExchangeStatus)
  status: ExchangeStatus;

  @Field(() => [String], { description: 'Acceptable technologies in order; empty = no preference.' })
  technologies: string[];

  @Field()
  description: string;
}

/** A need and the offers that cover it. */
@ObjectType({ description: 'An open need and the open offers of other groups that can each cover it on a host running a technology it accepts.' })
export class SatisfiableNeed {
  @Field(() => Need)
  need: Need;

  @Field(() => [Offer])
  offers: Offer[];

  @Field(() => Float)
  offered: number;
}

/** What accepting an offer or granting a need made. */
@ObjectType({ description: "An offer accepted or a need granted: the receiving group's share on the host, and the offer and need as they are now." })
export class Exchange {
  @Field(() => Share, { description: "The receiving group's share on the host (new, or its existing one enlarged)." })
  share: Share;

  @Field(() => ID)
  hostId: string;

  @Field(() => Float, { description: 'How much changed hands, in the unit of the offer or need.' })
  amount: number;

  @Field(() => Offer, { nullable: true, description: 'The offer drawn on, if any.' })
  offer: Offer | null;

  @Field(() => Need, { nullable: true, description: 'The need covered, if any.' })
  need: Need | null;
}
