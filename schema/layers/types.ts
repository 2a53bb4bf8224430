import { GraphQLJSON } from '../common/bounded-json';
import { Field, ID, ObjectType } from 'type-graphql';
import { RequirementOperator } from './inputs';

/** A property of a layer. */
@ObjectType()
export class LayerProperty {
  @Field()
  key: string;

  @Field(() => GraphQLJSON)
  value: string | number | boolean;

  @Field()
  locked: boolean;
}

/** A property as seen from a layer, with where it comes from. */
@ObjectType()
export class EffectiveProperty extends LayerProperty {
  @Field(() => ID)
  fromLayerId: string;
}

/** A requirement on effective properties. */
@ObjectType()
export class LayerRequirement {
  @Field()
  key: string;

  @Field(() => RequirementOperator)
  op: RequirementOperator;

  @Field(() => [GraphQLJSON])
  values: Array<string | number | boolean>;
}

/** A requirement that does not hold, and why. */
@ObjectType()
export class UnmetRequirement {
  @Field(() => LayerRequirement)
  requirement: LayerRequirement;

  @Field(() => GraphQLJSON, { nullable: true })
  actual: string | number | boolean | null;

  @Field()
  reason: string;
}

/** Whether a layer's requirements hold. */
@ObjectType()
export class RequirementCheck {
  @Field()
  satisfied: boolean;

  @Field(() => [UnmetRequirement])
  unmet: UnmetRequirement[];
}

/** One layer of a stack. */
@ObjectType({ description: 'A layer of a stack (machine → OS → zone → service). Upper layers inherit its properties.' })
export class Layer {
  @Field(() => ID)
  id: string;

  @Field()
  kind: string;

  @Field()
  name: string;

  @Field(() => ID)
  groupId: string;

  @Field(() => ID, { nullable: true })
  parentId: string | null;

  @Field(() => [LayerProperty], { description: 'Its own properties.' })
  properties: LayerProperty[];

  @Field(() => [LayerRequirement])
  requirements: LayerRequirement[];
}
