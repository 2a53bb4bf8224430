import { Directive, Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LaborKind } from '../../gateway/persistence/entities';
import { Connection } from '../common/connection';

registerEnumType(LaborKind, { name: 'LaborKind', description: 'Kinds of labor a group offers (seed 000).' });

/** People × hours per week of one kind of labor. */
@ObjectType({ description: 'People × hours per week of one kind of labor.' })
export class LaborOffer {
  @Field(() => LaborKind)
  kind: LaborKind;

  @Field(() => Int)
  people: number;

  @Field(() => Float)
  hoursPerWeek: number;
}

/** A financial or legal resource of a group. */
@ObjectType({ description: 'A financial or legal resource of a group, with an amount where it has one.' })
export class GroupNote {
  @Field()
  kind: string;

  @Field()
  description: string;

  @Field(() => Float, { nullable: true })
  amount?: number | null;

  @Field(() => String, { nullable: true })
  unit?: string | null;
}

/** What a group keeps in the gateway's own stores, against its storage quota. */
@ObjectType({ description: "What a group keeps in the gateway's own stores (images' content, replicas kept by the gateway), in bytes, against its storage quota." })
export class GroupStorage {
  @Field(() => Float, { nullable: true, description: 'Its own quota, set by a site admin; null: the installation default (RSP_GROUP_STORAGE_BYTES) applies.' })
  quotaBytes: number | null;

  @Field(() => Float, { nullable: true, description: 'The quota in force: quotaBytes, else the installation default; null: no limit.' })
  limitBytes: number | null;

  @Field(() => Float, { description: 'imageBytes + replicaBytes + reservedBytes: what counts against the limit.' })
  usedBytes: number;

  @Field(() => Float, { description: 'The content of its images.' })
  imageBytes: number;

  @Field(() => Float, { description: "Its replicas kept in the gateway's store (STORE target, one-off copies); replicas kept on hosts count against its shares instead." })
  replicaBytes: number;

  @Field(() => Float, { description: 'Held by uploads and replications in progress.' })
  reservedBytes: number;
}

/** A group: the tenant. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A group that shares servers: what it offers, needs and prefers. Private fields are null for non-members.' })
export class Group {
  @Field(() => ID)
  id: string;

  @Field()
  slug: string;

  @Field()
  name: string;

  @Field()
  description: string;

  @Field(() => String, { nullable: true, description: 'Members only.' })
  contact: string | null;

  @Field(() => [LaborOffer])
  labor: LaborOffer[];

  @Field(() => [GroupNote], { nullable: true, description: 'Members only.' })
  financial: GroupNote[] | null;

  @Field(() => [GroupNote], { nullable: true, description: 'Members only.' })
  legal: GroupNote[] | null;

  @Field(() => [String], { description: 'Technologies it hosts environments with.' })
  techHosts: string[];

  @Field(() => [String], { description: 'Technologies it needs (empty with noTechPreference: any).' })
  techNeeds: string[];

  @Field()
  noTechPreference: boolean;

  @Field({ description: 'Whether it makes external backups of what it hosts.' })
  externalBackups: boolean;

  @Field()
  createdAt: Date;
}

/** A page of groups. */
@ObjectType()
export class GroupConnection extends Connection(Group) {}
