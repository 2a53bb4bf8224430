import { GraphQLError, GraphQLField, GraphQLInputType, GraphQLObjectType, GraphQLOutputType, getNamedType, isInputObjectType, isListType, isNonNullType, isObjectType, isScalarType, responsePathAsArray, GraphQLResolveInfo } from 'graphql';

/**
 * Where the federation last saw each id, per federation group: the site that owns it (bounded,
 * oldest forgotten first). A group's lookups steer only its own requests: what one group found
 * where neither sends another group's requests elsewhere nor tells it where the first one looked.
 */
export class SiteIndex {
  private readonly owners = new Map<string, string>();

  constructor(private readonly capacity = 200_000) {}

  /** Records that `group` found `id` at `site`. */
  remember(group: string, id: string, site: string): void {
    const key = `${group}\n${id}`;
    if (this.owners.get(key) === site) return;
    this.owners.delete(key);
    this.owners.set(key, site);
    if (this.owners.size > this.capacity) this.owners.delete(this.owners.keys().next().value!);
  }

  /** The site where `group` found `id`, if it did. */
  siteOf(group: string, id: string): string | undefined {
    return this.owners.get(`${group}\n${id}`);
  }
}

/**
 * The ids the federation gives: `<site>:<the site's own id>` (site names have no colon), so a by-id
 * field goes straight to the site its id names, with no lookup, whichever federation process or
 * restart the client got it from. A site never sees them: the federation strips the prefix of
 * every ID argument before it delegates, and prefixes every ID its sites answer.
 */
export class GlobalIds {
  constructor(private readonly sites: ReadonlySet<string>) {}

  /** The id clients see for `id` of `site`. */
  of(site: string, id: string): string {
    return `${site}:${id}`;
  }

  /** The site and its own id of a global id; undefined for any other id (a site's own, e.g. a plain UUID). */
  parse(id: string): { site: string; id: string } | undefined {
    const at = id.indexOf(':');
    if (at <= 0) return undefined;
    const site = id.slice(0, at);
    return this.sites.has(site) ? { site, id: id.slice(at + 1) } : undefined;
  }

  /** A site's own id of `id`: a global id stripped, any other id as it is. */
  local(id: string): string {
    return this.parse(id)?.id ?? id;
  }
}

/** A root field's arguments as the sites take them (global ids stripped) and the sites their ids named. */
export interface LocalArgs {
  args: Record<string, unknown>;
  /** The site of each global id, in argument order. */
  sites: string[];
  /** The ids that were not global (a site's own), in argument order. */
  plain: string[];
}

/** `args` of `field` with every global ID (top level, in input objects and lists) stripped to the site's own id. */
export function localArgs(args: Record<string, unknown>, field: GraphQLField<unknown, unknown>, ids: GlobalIds): LocalArgs {
  const found: LocalArgs = { args, sites: [], plain: [] };
  if (!field.args.length) return found;
  const local = (value: unknown, type: GraphQLInputType): unknown => {
    if (value === null || value === undefined) return value;
    if (isNonNullType(type)) return local(value, type.ofType);
    if (isListType(type)) return Array.isArray(value) ? value.map((v) => local(v, type.ofType)) : local(value, type.ofType);
    if (isScalarType(type)) {
      if (type.name !== 'ID' || typeof value !== 'string') return value;
      const global = ids.parse(value);
      if (!global) {
        found.plain.push(value);
        return value;
      }
      found.sites.push(global.site);
      return global.id;
    }
    if (isInputObjectType(type) && typeof value === 'object') {
      const fields = type.getFields();
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, fields[k] ? local(v, fields[k].type) : v]));
    }
    return value;
  };
  const out: Record<string, unknown> = { ...args };
  for (const a of field.args) if (a.name in args) out[a.name] = local(args[a.name], a.type);
  found.args = out;
  return found;
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
