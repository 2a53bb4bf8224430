import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { BadInputError } from '../../gateway/errors';
import type { LayerEntity } from '../../gateway/persistence/entities';
import type { EffectiveProperty as Effective, RequirementCheck as Check } from '../../gateway/services/layer-service';
import { Actor } from '../common/actor';
import type { Principal } from '../common/actor';
import { stripUndefined } from '../groups/resolver';
import { CreateLayerInput, isPropertyValue, LayerPropertyInput, LayerRequirementInput, UpdateLayerInput } from './inputs';
import { EffectiveProperty, Layer, LayerProperty, RequirementCheck } from './types';

/** Layers, inheritance and requirement checks. */
@Resolver(() => Layer)
export class LayerResolver {
  @Query(() => Layer)
  layer(@Arg('id', () => ID) id: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<LayerEntity> {
    return ctx.services.layers.get(actor, id);
  }

  @Query(() => [Layer], { description: "A group's layers (its members)." })
  layers(@Arg('groupId', () => ID) groupId: string, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<LayerEntity[]> {
    return ctx.services.layers.list(actor, groupId);
  }

  @Mutation(() => Layer)
  createLayer(@Arg('input') input: CreateLayerInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<LayerEntity> {
    checkValues(input.properties, input.requirements);
    return ctx.services.layers.create(actor, input);
  }

  @Mutation(() => Layer, { description: 'Moves a layer or changes its properties; cycles are refused.' })
  updateLayer(@Arg('input') input: UpdateLayerInput, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<LayerEntity> {
    checkValues(input.properties, input.requirements);
    const { id, ...fields } = input;
    return ctx.services.layers.update(actor, id, stripUndefined(fields));
  }

  @FieldResolver(() => [LayerProperty], { description: 'Its own properties.' })
  properties(@Root() layer: LayerEntity): LayerProperty[] {
    // Rows written before every property carried `locked` read as unlocked.
    return layer.properties.map((p) => ({ key: p.key, value: p.value, locked: p.locked === true }));
  }

  @FieldResolver(() => [EffectiveProperty], { description: 'Properties after inheritance: nearest wins unless locked below.' })
  effectiveProperties(@Root() layer: LayerEntity, @Ctx() ctx: GatewayContext): Promise<Effective[]> {
    return ctx.services.layers.effectiveProperties(layer.id);
  }

  @FieldResolver(() => RequirementCheck, { description: 'Whether its requirements hold on what it inherits, and why not.' })
  requirementCheck(@Root() layer: LayerEntity, @Ctx() ctx: GatewayContext): Promise<Check> {
    return ctx.services.layers.checkRequirements(layer.id);
  }

  @FieldResolver(() => [Layer])
  children(@Root() layer: LayerEntity, @Actor() actor: Principal, @Ctx() ctx: GatewayContext): Promise<LayerEntity[]> {
    return ctx.services.layers.children(actor, layer.id);
  }
}

function checkValues(props?: LayerPropertyInput[], reqs?: LayerRequirementInput[]): void {
  for (const p of props ?? []) if (!isPropertyValue(p.value)) throw new BadInputError(`Property ${p.key}: value must be a string, number or boolean`, { key: p.key });
  for (const r of reqs ?? []) if (!r.values.every(isPropertyValue)) throw new BadInputError(`Requirement on ${r.key}: values must be strings, numbers or booleans`, { key: r.key });
}
