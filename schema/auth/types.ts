import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { MemberRole } from '../../gateway/persistence/entities';

registerEnumType(MemberRole, { name: 'MemberRole', description: 'Role of a token in its group: VIEWER < MEMBER < ADMIN.' });

/** An API token, without its secret. */
@ObjectType({ description: 'An API token. Its secret is shown once, when it is created.' })
export class ApiToken {
  @Field(() => ID)
  id: string;

  @Field(() => ID, { nullable: true })
  groupId: string | null;

  @Field()
  name: string;

  @Field(() => MemberRole)
  role: MemberRole;

  @Field()
  siteAdmin: boolean;

  @Field({ description: 'The first characters of the secret, to recognise it.' })
  prefix: string;

  @Field(() => Date, { nullable: true })
  expiresAt: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the token was last used, to within about 10 s.' })
  lastUsedAt: Date | null;

  @Field()
  createdAt: Date;
}

/** A new token and its secret. */
@ObjectType({ description: 'A new token: keep the secret, it is never shown again.' })
export class IssuedToken {
  @Field(() => ApiToken)
  token: ApiToken;

  @Field({ description: 'Send as "Authorization: Bearer <secret>".' })
  secret: string;
}

/** Who the caller is. */
@ObjectType({ description: 'Who the caller is.' })
export class Viewer {
  @Field()
  authenticated: boolean;

  @Field(() => ID, { nullable: true })
  tokenId: string | null;

  @Field(() => String, { nullable: true })
  name: string | null;

  @Field(() => ID, { nullable: true })
  groupId: string | null;

  @Field(() => MemberRole, { nullable: true })
  role: MemberRole | null;

  @Field()
  siteAdmin: boolean;
}
