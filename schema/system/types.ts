import { Field, ObjectType } from 'type-graphql';

/** What this gateway is. */
@ObjectType({ description: 'What this gateway is: its site, version and database.' })
export class GatewayInfo {
  @Field({ description: 'The name of the site this gateway serves.' })
  site: string;

  @Field()
  version: string;

  @Field({ description: '"postgres" or "pglite".' })
  database: string;
}
