import { createParameterDecorator } from 'type-graphql';
import type { Principal } from '../../gateway/auth/principal';
import type { GatewayContext } from '../../gateway/context';

/** Injects the caller (`Principal`) into a resolver argument. */
export function Actor() {
  return createParameterDecorator<GatewayContext>(({ context }) => context.actor);
}

export type { Principal };
