import { Field, ID, ObjectType } from 'type-graphql';

/** A snapshot of an environment, held by its driver on the environment's host. */
@ObjectType({ description: "A snapshot of an environment, held by its driver on the environment's host: roll the environment back to it, or delete it." })
export class EnvironmentSnapshot {
  @Field(() => ID)
  id: string;

  @Field({ description: 'Unique per environment: a-z, 0-9, _ and -.' })
  name: string;

  @Field({ description: "Who took it: a token name (to the admins governing its host, only `a token of group <id>`), or the gateway (replication) for a snapshot before a copy." })
  createdBy: string;

  @Field()
  createdAt: Date;
}
