import { Ctx, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../gateway/context';
import { GatewayInfo } from './types';

/** Facts about the gateway itself. */
@Resolver()
export class SystemResolver {
  @Query(() => GatewayInfo, { description: 'What this gateway is.' })
  gateway(@Ctx() ctx: GatewayContext): GatewayInfo {
    return ctx.services.info;
  }
}
