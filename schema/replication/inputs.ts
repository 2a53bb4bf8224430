import { Type } from 'class-transformer';
import { IsOptional, ValidateNested } from 'class-validator';
import { Field, ID, InputType, Int } from 'type-graphql';
import { ReplicationKind, ReplicationTargetKind } from '../../gateway/persistence/entities';
import { PeerSiteInput } from '../common/peer-site';

/** A new replication policy. */
@InputType()
export class CreateReplicationPolicyInput {
  @Field(() => ID)
  environmentId: string;

  @Field(() => ID, { nullable: true, description: "The layer that replicates; default: the environment's ZONE layer." })
  @IsOptional()
  layerId?: string;

  @Field({ nullable: true })
  @IsOptional()
  name?: string;

  @Field(() => ReplicationTargetKind)
  targetKind: ReplicationTargetKind;

  @Field(() => ID, { nullable: true, description: 'The host, site or group; none for STORE.' })
  @IsOptional()
  targetId?: string;

  @Field({ description: 'A 5-field cron expression (UTC) or "every N minutes"; the minimum interval is enforced.' })
  schedule: string;

  @Field(() => Int, { nullable: true, description: 'Replicas kept (default 3).' })
  @IsOptional()
  keep?: number;

  @Field(() => ReplicationKind, { nullable: true, description: 'Default EXTERNAL.' })
  @IsOptional()
  kind?: ReplicationKind;

  @Field(() => [String], { nullable: true, description: 'INTERNAL: run inside the environment; its standard output is the backup.' })
  @IsOptional()
  backupCommand?: string[];

  @Field(() => [String], { nullable: true, description: 'INTERNAL: run inside the environment with the backup on its standard input.' })
  @IsOptional()
  restoreCommand?: string[];

  @Field({ nullable: true })
  @IsOptional()
  autoFailover?: boolean;

  @Field({ nullable: true })
  @IsOptional()
  encrypted?: boolean;

  @Field({ nullable: true, description: 'EXTERNAL: each run takes a snapshot, exports from it and deletes it (a consistent copy); UNSUPPORTED_OPERATION when the driver cannot export from a snapshot.' })
  @IsOptional()
  snapshotBeforeCopy?: boolean;

  @Field({ nullable: true })
  @IsOptional()
  enabled?: boolean;

  @Field(() => String, { nullable: true, description: 'Restore drills of the newest replica on this schedule (same syntax as schedule; EXTERNAL policies); "" for none.' })
  @IsOptional()
  drillSchedule?: string;
  @Field(() => PeerSiteInput, {
    nullable: true,
    description: "With targetKind STORE: another site's store keeps the replicas (only the chunks it lacks are sent; EXTERNAL, not encrypted); they are restored there.",
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => PeerSiteInput)
  peer?: PeerSiteInput;
}

/** Changes to a replication policy; absent (or null) fields stay. */
@InputType()
export class UpdateReplicationPolicyInput {
  @Field(() => ID, { nullable: true })
  @IsOptional()
  layerId?: string;

  @Field({ nullable: true })
  @IsOptional()
  name?: string;

  @Field(() => ReplicationTargetKind, { nullable: true })
  @IsOptional()
  targetKind?: ReplicationTargetKind;

  @Field(() => ID, { nullable: true })
  @IsOptional()
  targetId?: string;

  @Field({ nullable: true })
  @IsOptional()
  schedule?: string;

  @Field(() => Int, { nullable: true })
  @IsOptional()
  keep?: number;

  @Field(() => ReplicationKind, { nullable: true })
  @IsOptional()
  kind?: ReplicationKind;

  @Field(() => [String], { nullable: true })
  @IsOptional()
  backupCommand?: string[];

  @Field(() => [String], { nullable: true })
  @IsOptional()
  restoreCommand?: string[];

  @Field({ nullable: true })
  @IsOptional()
  autoFailover?: boolean;

  @Field({ nullable: true })
  @IsOptional()
  encrypted?: boolean;

  @Field({ nullable: true, description: 'EXTERNAL: each run takes a snapshot, exports from it and deletes it (a consistent copy); UNSUPPORTED_OPERATION when the driver cannot export from a snapshot.' })
  @IsOptional()
  snapshotBeforeCopy?: boolean;

  @Field({ nullable: true })
  @IsOptional()
  enabled?: boolean;

  @Field(() => String, { nullable: true, description: 'Restore drills of the newest replica on this schedule (same syntax as schedule; EXTERNAL policies); "" for none.' })
  @IsOptional()
  drillSchedule?: string;
}
