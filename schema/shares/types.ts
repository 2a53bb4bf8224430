import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from '../common/bounded-json';
import { ShareKind, UsagePolicyMode } from '../../gateway/persistence/entities';

registerEnumType(UsagePolicyMode, {
  name: 'UsagePolicyMode',
  description: "How a group over a usage policy is held back in the site: REFUSE its new work there (creates, copies, restores, migrations to it, allocations), or THROTTLE its environments there (lower CPU weight and bandwidth) until its usage is back under the policy.",
});
registerEnumType(ShareKind, { name: 'ShareKind', description: 'FULL, HALF (half RAM/disk/bandwidth, half CPU weight like nice 10) or CUSTOM.' });

/** A group's slice of a host. */
@ObjectType({ description: "A group's slice of a host; it sets the group's quota there." })
export class Share {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  hostId: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ShareKind)
  kind: ShareKind;

  @Field(() => GraphQLJSONObject, { description: 'Quota per resource type, in its unit.' })
  quotas: Record<string, number>;

  @Field(() => Int)
  cpuWeight: number;
}

/** A site's usage policy. */
@ObjectType({ description: "A site's usage policy: text for people, limits for machines." })
export class UsagePolicy {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  siteId: string;

  @Field()
  name: string;

  @Field()
  text: string;

  @Field(() => Float, { nullable: true })
  bandwidthBytesPerMonth: number | null;

  @Field(() => Float, { nullable: true })
  cpuHoursPerMonth: number | null;

  @Field(() => Float, { nullable: true })
  diskBytes: number | null;

  @Field(() => UsagePolicyMode)
  mode: UsagePolicyMode;
}
