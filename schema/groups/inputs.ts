import { ArrayMaxSize, IsEmail, IsInt, IsOptional, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { Field, Float, ID, InputType, Int } from 'type-graphql';
import { LaborKind } from '../../gateway/persistence/entities';

/** Labor offered. */
@InputType()
export class LaborOfferInput {
  @Field(() => LaborKind)
  kind: LaborKind;

  @Field(() => Int)
  @IsInt()
  @Min(0)
  people: number;

  @Field(() => Float)
  @Min(0)
  @Max(168)
  hoursPerWeek: number;
}

/** A financial or legal note. */
@InputType()
export class GroupNoteInput {
  @Field()
  @Length(1, 50)
  kind: string;

  @Field()
  @Length(1, 500)
  description: string;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  amount?: number;

  @Field({ nullable: true })
  @IsOptional()
  @Length(1, 20)
  unit?: string;
}

const TECHNOLOGY = /^[a-z][a-z0-9-]{0,29}$/;

/** What a group says about itself; every field optional. Shared by creation and update. */
@InputType()
export class GroupProfileInput {
  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 5000)
  description?: string;

  @Field({ nullable: true })
  @IsOptional()
  @IsEmail({}, { message: 'contact must be an email address' })
  contact?: string;

  @Field(() => [LaborOfferInput], { nullable: true })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => LaborOfferInput)
  labor?: LaborOfferInput[];

  @Field(() => [GroupNoteInput], { nullable: true })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => GroupNoteInput)
  financial?: GroupNoteInput[];

  @Field(() => [GroupNoteInput], { nullable: true })
  @IsOptional()
  @ValidateNested({ each: true })
  @Type(() => GroupNoteInput)
  legal?: GroupNoteInput[];

  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(20)
  @Matches(TECHNOLOGY, { each: true, message: 'technologies are lowercase names like docker, lxc, libvirt-kvm' })
  techHosts?: string[];

  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(20)
  @Matches(TECHNOLOGY, { each: true, message: 'technologies are lowercase names like docker, lxc, libvirt-kvm' })
  techNeeds?: string[];

  @Field({ nullable: true })
  @IsOptional()
  noTechPreference?: boolean;

  @Field({ nullable: true })
  @IsOptional()
  externalBackups?: boolean;
}

/** Fields of a new group. */
@InputType()
export class CreateGroupInput extends GroupProfileInput {
  @Field()
  @Length(1, 200)
  name: string;

  @Field({ description: 'Lowercase letters, digits and -, 1–63 characters.' })
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'slug must be 1–63 of a-z, 0-9 and -, starting with a letter or digit' })
  slug: string;
}

/** Changes to a group; absent fields stay. */
@InputType()
export class UpdateGroupInput extends GroupProfileInput {
  @Field(() => ID)
  id: string;

  @Field({ nullable: true })
  @IsOptional()
  @Length(1, 200)
  name?: string;
}
