import { Type } from 'class-transformer';
import { IsOptional, Length, Matches, ValidateNested } from 'class-validator';
import { Arg, Ctx, Field, Float, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { ImageEntity, ImageSource, ImageVisibility } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
import { PeerSiteInput } from '../common/peer-site';
import type { Principal } from '../common/actor';
import { Image } from './types';

/** An image to register in the catalog. */
@InputType()
class RegisterImageInput {
  @Field(() => ID)
  vendorGroupId: string;

  @Field()
  @Matches(/^[a-z0-9][a-z0-9._-]{0,99}$/, { message: 'image names are lowercase letters, digits, . _ -' })
  name: string;

  @Field()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$/, { message: 'versions are letters, digits, . _ -' })
  version: string;

  @Field()
  @Matches(/^[a-z][a-z0-9-]{0,29}$/, { message: 'technology is a driver technology name like docker or lxc' })
  technology: string;

  @Field(() => ImageSource, { defaultValue: ImageSource.USER_SUPPLIED })
  source: ImageSource;

  @Field(() => ImageVisibility, { defaultValue: ImageVisibility.PRIVATE })
  visibility: ImageVisibility;

  @Field(() => [ID], { nullable: true })
  @IsOptional()
  sharedWith?: string[];

  @Field({ nullable: true })
  @IsOptional()
  @Length(0, 2000)
  description?: string;

  @Field({ nullable: true })
  @IsOptional()
  digest?: string;

  @Field(() => Float, { nullable: true })
  @IsOptional()
  sizeBytes?: number;
}

/** An image another site has, to fetch by digest. */
@InputType()
class ImportImageInput {
  @Field({ description: 'sha256:<64 hex digits>' })
  digest: string;

  @Field(() => PeerSiteInput, { description: 'The site to fetch it from.' })
  @ValidateNested()
  @Type(() => PeerSiteInput)
  from: PeerSiteInput;

  @Field(() => ID, { nullable: true, description: "The group that keeps it here; default: the caller's." })
  @IsOptional()
  vendorGroupId?: string;

  @Field(() => ImageVisibility, { nullable: true, description: 'Default PRIVATE.' })
  @IsOptional()
  visibility?: ImageVisibility;
}

/** The image catalog. */
@Resolver(() => Image)
export class ImageResolver {
  @Query(() => Image)
  image(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.view(actor, id);
  }

  @Query(() => [Image], { description: 'Images the caller may see and use.' })
  images(@Arg('technology', () => String, { nullable: true }) technology: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity[]> {
    return ctx.services.images.list(actor, { technology });
  }

  @Mutation(() => Image, { description: 'Registers an image in the catalog (members of the vendor group).' })
  registerImage(@Arg('input') input: RegisterImageInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.register(actor, input);
  }

  @Mutation(() => Image, {
    description:
      'The image of a digest for your group: one it may use here already, else fetched from another site that has it (its bits checked against the digest: other bits are INTEGRITY_ERROR with details.reason DIGEST_MISMATCH, and nothing is kept) and registered for the group (members).',
  })
  importImage(@Arg('input') input: ImportImageInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.imageImport.importImage(actor, { digest: input.digest, from: input.from, vendorGroupId: input.vendorGroupId ?? null, visibility: input.visibility ?? null });
  }

  @Mutation(() => Image, { description: 'Changes who may see an image.' })
  setImageVisibility(@Arg('id', () => ID) id: string, @Arg('visibility', () => ImageVisibility) visibility: ImageVisibility, @Arg('sharedWith', () => [ID], { nullable: true }) sharedWith: string[] | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.setVisibility(actor, id, visibility, sharedWith);
  }
}
