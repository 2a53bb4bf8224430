import { createPubSub, PubSub } from '@graphql-yoga/subscription';
import type { OperationEntity } from '../persistence/entities';

/** Every topic published inside a gateway, with the payload it carries. */
export type RspTopics = {
  OPERATION_UPDATED: [OperationEntity];
};

/** Topic names, for `@Subscription({ topics })`. */
export const Topic = {
  OPERATION_UPDATED: 'OPERATION_UPDATED',
} as const satisfies Record<keyof RspTopics, keyof RspTopics>;

/** The gateway's publish/subscribe bus. In-memory by default. */
export type RspPubSub = PubSub<RspTopics>;

/** An in-memory PubSub, for one gateway process. */
export function createMemoryPubSub(): RspPubSub {
  return createPubSub<RspTopics>();
}
