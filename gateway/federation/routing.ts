import { GraphQLError, GraphQLInputType, GraphQLObjectType, GraphQLOutputType, getNamedType, isInputObjectType, isListType, isNonNullType, isObjectType, isScalarType, responsePathAsArray, GraphQLResolveInfo } from 'graphql';

/** Where the federation last saw each id: the site that owns it (bounded, oldest forgotten first). */
export class SiteIndex {
  private readonly owners = new Map<string, string>();

  constructor(private readonly capacity = 200_000) {}

  /** Records that `id` came from `site`. */
  remember(id: string, site: string): void {
    if (this.owners.get(id) === site) return;
    this.owners.delete(id);
    this.owners.set(id, site);
    if (this.owners.size > this.capacity) this.owners.delete(this.owners.keys().next().value!);
  }

  /** The site `id` came from, if the federation has seen it. */
  siteOf(id: string): string | undefined {
    return this.owners.get(id);
  }
}

/** Every ID value in `value` of type `type`: top-level ID arguments and those inside input objects and lists. */
export function idsIn(value: unknown, type: GraphQLInputType): string[] {
  if (value === null || value === undefined) return [];
  if (isNonNullType(type)) return idsIn(value, type.ofType);
  if (isListType(type)) return Array.isArray(value) ? value.flatMap((v) => idsIn(v, type.ofType)) : idsIn(value, type.ofType);
  if (isScalarType(type)) return type.name === 'ID' && typeof value === 'string' ? [value] : [];
  if (isInputObjectType(type) && typeof value === 'object') {
    const fields = type.getFields();
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => (fields[k] ? idsIn(v, fields[k].type) : []));
  }
  return [];
}

/** How a root field's answers from several sites merge. */
export type MergeKind = 'connection' | 'list' | 'single';

/** A connection (edges, nodes, pageInfo) merges per site, a list concatenates, anything else is one site's answer. */
export function mergeKindOf(type: GraphQLOutputType): MergeKind {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return 'list';
  return isConnectionType(inner) ? 'connection' : 'single';
}

/** A Relay-style connection type of the site schema (`…Connection` with `pageInfo`). */
export function isConnectionType(type: unknown): type is GraphQLObjectType {
  return isObjectType(type) && type.name.endsWith('Connection') && 'pageInfo' in type.getFields() && 'edges' in type.getFields();
}

/** The position of each site in a merged connection: its own cursor, or null once it has no more. */
export type SiteCursors = Record<string, string | null>;

/** The merged cursor: every site's position, opaque to the client. */
export function encodeCursor(cursors: SiteCursors): string {
  return Buffer.from(JSON.stringify({ v: 1, sites: cursors })).toString('base64url');
}

/** Reads a merged cursor back; a cursor the federation did not give is BAD_USER_INPUT. */
export function decodeCursor(cursor: string, info: GraphQLResolveInfo): SiteCursors {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: number; sites?: unknown };
    if (parsed.v === 1 && parsed.sites && typeof parsed.sites === 'object' && Object.values(parsed.sites).every((c) => c === null || typeof c === 'string')) return parsed.sites as SiteCursors;
  } catch {
    // Not base64url JSON: refused below.
  }
  throw new GraphQLError(`Invalid cursor for ${info.fieldName}: pass the endCursor the federation gave`, { path: responsePathAsArray(info.path), extensions: { code: 'BAD_USER_INPUT' } });
}

/** A connection merged from several sites: each site's part, and a pageInfo whose cursors carry every site's position. */
export class FederatedConnection {
  constructor(
    readonly parts: unknown[],
    readonly pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null },
  ) {}
}

/** The named type of a field's output, e.g. `Host` for `[Host!]!`. */
export function namedTypeName(type: GraphQLOutputType): string {
  return getNamedType(type).name;
}
