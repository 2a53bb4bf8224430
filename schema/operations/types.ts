import { Directive, Field, Float, ID, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from '../common/bounded-json';
import { OperationState } from '../../gateway/persistence/entities';
import { Connection } from '../common/connection';

registerEnumType(OperationState, { name: 'OperationState', description: 'Where an operation is in its life.' });

/** Why an operation failed. */
@ObjectType({ description: 'Why an operation failed.' })
export class OperationError {
  @Field({ description: 'The GraphQL error code the failure maps to, e.g. CONFLICT.' })
  code: string;

  @Field()
  message: string;
}

/** A long action with progress, result and error. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'A long action (create, replicate, migrate, restore…) with progress, result and error.' })
export class Operation {
  @Field(() => ID)
  id: string;

  @Field({ description: 'What is being done, e.g. environment.create.' })
  kind: string;

  @Field(() => String, { nullable: true })
  targetType: string | null;

  @Field(() => String, { nullable: true })
  targetId: string | null;

  @Field(() => ID, { nullable: true, description: "The group that started it on another group's target (a host owner stopping a guest); null otherwise." })
  actorGroupId: string | null;

  @Field(() => OperationState)
  state: OperationState;

  @Field(() => Float, { description: 'From 0 to 1.' })
  progress: number;

  @Field(() => String, { nullable: true })
  message: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  result: Record<string, unknown> | null;

  @Field(() => OperationError, { nullable: true })
  error(): OperationError | null {
    const self = this as unknown as { errorCode: string | null; errorMessage: string | null };
    return self.errorCode ? { code: self.errorCode, message: self.errorMessage ?? '' } : null;
  }

  @Field()
  createdAt: Date;

  @Field()
  updatedAt: Date;

  @Field(() => Date, { nullable: true })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true })
  finishedAt: Date | null;
}

/** A page of operations. */
@ObjectType()
export class OperationConnection extends Connection(Operation) {}
