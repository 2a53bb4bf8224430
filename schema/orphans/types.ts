import { Field, ObjectType } from 'type-graphql';

/** An object RSP made on an engine that the database does not know. */
@ObjectType({ description: 'An object RSP made on an engine that the database does not know (or knows as DESTROYED): found when its agent connects.' })
export class Orphan {
  @Field({ description: 'The technology of the driver that lists it.' })
  technology: string;

  @Field({ description: 'The driver (registry name) that lists it.' })
  driver: string;

  @Field({ description: 'Its id on the engine (the environment id RSP gave it).' })
  name: string;

  @Field({ description: 'When it was found.' })
  foundAt: Date;
}

/** An orphan that could not be removed. */
@ObjectType({ description: 'An orphan that could not be removed, with the reason.' })
export class OrphanFailure {
  @Field(() => Orphan)
  orphan: Orphan;

  @Field()
  reason: string;
}

/** What `removeOrphans` did. */
@ObjectType({ description: 'What removeOrphans did: the orphans removed and those that could not be, with the reasons.' })
export class RemoveOrphansResult {
  @Field(() => [Orphan])
  removed: Orphan[];

  @Field(() => [OrphanFailure])
  failed: OrphanFailure[];
}
