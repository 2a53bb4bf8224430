import { Field, ObjectType } from 'type-graphql';

/** A join token for a host agent, shown once. */
@ObjectType({ description: 'A one-time join token for a host agent (`rsp agent --token`): its secret is shown once.' })
export class AgentJoinToken {
  @Field({ description: 'The agent id it enrolls (hosts name it in `agent`).' })
  agentId: string;

  @Field({ description: 'The secret, rspj_…: exchanged at the first connection for the agent\'s own credential.' })
  token: string;

  @Field()
  expiresAt: Date;
}
