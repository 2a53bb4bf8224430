import { IsOptional, Matches } from 'class-validator';
import { Field, InputType } from 'type-graphql';

/**
 * Another site to work with: its name (one of this site's known peers); its GraphQL URL (checked
 * against the listed one) and a token it issued. Through `rsp
 * federate` give only the name: the federation fills url and token with the peering of the
 * caller's group there.
 */
@InputType({
  description:
    "Another site: its name (one of this site's peer sites, RSP_PEER_SITES: any other is FORBIDDEN), optionally its GraphQL URL (it must have the listed URL's origin; the listed URL is used) and a token it issued (through rsp federate: only the name, the federation fills url and token from the peering of your group there).",
})
export class PeerSiteInput {
  @Field()
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'a site name is lowercase letters, digits and dashes' })
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  url?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  token?: string | null;
}
