import { Directive, Field, Float, ID, ObjectType, registerEnumType } from 'type-graphql';
import { ImageSource, ImageVisibility } from '../../gateway/persistence/entities';

registerEnumType(ImageSource, { name: 'ImageSource', description: 'READY from the site, or USER_SUPPLIED.' });
registerEnumType(ImageVisibility, { name: 'ImageVisibility', description: 'PRIVATE to the vendor group, SHARED with named groups, PUBLIC to federated sites.' });

/** A catalog image. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A read-only root filesystem image in the catalog.' })
export class Image {
  @Field(() => ID)
  id: string;

  @Field()
  name: string;

  @Field()
  version: string;

  @Field()
  technology: string;

  @Field(() => ID)
  vendorGroupId: string;

  @Field(() => String, { nullable: true })
  digest: string | null;

  @Field(() => Float, { nullable: true })
  sizeBytes: number | null;

  @Field(() => String, { nullable: true, description: "The format of its bits, told from their first bytes when they were uploaded: rootfs-tar (a root filesystem as a tar archive, plain or compressed), qcow2, or a plugin driver's own. Null before its content is uploaded, and for images stored before formats were kept." })
  format: string | null;

  @Field()
  readOnly: boolean;

  @Field(() => ImageSource)
  source: ImageSource;

  @Field(() => ImageVisibility)
  visibility: ImageVisibility;

  @Field(() => [ID], { description: "The groups a SHARED image is shared with: all of them to the vendor group's members (and site admins), only the caller's own group to the others." })
  sharedWith: string[];

  @Field()
  description: string;
}
