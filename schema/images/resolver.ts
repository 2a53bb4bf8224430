import { IsOptional, Length, Matches } from 'class-validator';
import { Arg, Ctx, Field, Float, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { ImageEntity, ImageSource, ImageVisibility } from '../../gateway/persistence/entities';
import { Actor } from '../common/actor';
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

/** The image catalog. */
@Resolver(() => Image)
export class ImageResolver {
  @Query(() => Image)
  image(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.get(actor, id);
  }

  @Query(() => [Image], { description: 'Images the caller may see and use.' })
  images(@Arg('technology', () => String, { nullable: true }) technology: string | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity[]> {
    return ctx.services.images.list(actor, { technology });
  }

  @Mutation(() => Image, { description: 'Registers an image in the catalog (members of the vendor group).' })
  registerImage(@Arg('input') input: RegisterImageInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.register(actor, input);
  }

  @Mutation(() => Image, { description: 'Changes who may see an image.' })
  setImageVisibility(@Arg('id', () => ID) id: string, @Arg('visibility', () => ImageVisibility) visibility: ImageVisibility, @Arg('sharedWith', () => [ID], { nullable: true }) sharedWith: string[] | undefined, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<ImageEntity> {
    return ctx.services.images.setVisibility(actor, id, visibility, sharedWith);
  }
}
