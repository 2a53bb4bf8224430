import { ArgsType, ClassType, Field, Int, ObjectType } from 'type-graphql';
import { Max, Min } from 'class-validator';
import { BadInputError } from '../../gateway/errors';

/** Relay page info. */
@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field()
  hasPreviousPage: boolean;

  @Field(() => String, { nullable: true })
  startCursor: string | null;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

/** Arguments of every list: forward cursor pagination. */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { defaultValue: 50, description: 'How many items to return (1–500).' })
  @Min(1)
  @Max(500)
  first: number = 50;

  @Field(() => String, { nullable: true, description: 'Return the items after this cursor.' })
  after?: string;
}

/** A Relay connection type over `node`'s class: `edges { cursor node }`, `pageInfo`, `totalCount`. */
export function Connection<T extends object>(node: ClassType<T>) {
  @ObjectType(`${node.name}Edge`)
  class Edge {
    @Field()
    cursor: string;

    @Field(() => node)
    node: T;
  }

  @ObjectType()
  abstract class ConnectionType {
    @Field(() => [Edge])
    edges: Edge[];

    @Field(() => [node], { description: 'The nodes of `edges`, for clients that need no cursors.' })
    nodes: T[];

    @Field(() => PageInfo)
    pageInfo: PageInfo;

    @Field(() => Int)
    totalCount: number;
  }
  return ConnectionType;
}

/** A page of results as services return it. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** Decodes an offset cursor; BAD_USER_INPUT when it is not one of ours. */
export function offsetFromCursor(cursor: string | undefined | null): number {
  if (!cursor) return 0;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^offset:(\d{1,15})$/.exec(decoded);
  // Ours name offsets of rows that were there (15 digits take any table): a longer number would reach the database as out of range.
  if (!match) throw new BadInputError(`"${cursor}" is not a valid cursor`, { cursor });
  return Number(match[1]) + 1;
}

/** Builds a connection from a page fetched at `offset`. */
export function toConnection<T>(page: Page<T>, offset: number) {
  const cursor = (i: number) => Buffer.from(`offset:${offset + i}`, 'utf8').toString('base64url');
  const edges = page.items.map((node, i) => ({ cursor: cursor(i), node }));
  return {
    edges,
    nodes: page.items,
    totalCount: page.total,
    pageInfo: {
      hasNextPage: offset + page.items.length < page.total,
      hasPreviousPage: offset > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}
