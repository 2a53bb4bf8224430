import { relocatedError } from '@graphql-tools/utils';
import { GraphQLError, GraphQLResolveInfo, responsePathAsArray } from 'graphql';
import { FlatObject } from './flat-lists';

/** One site's answer to a delegated field: a value, NOT_FOUND, or a failure (down, refused, timed out). */
export type Outcome = { site: string; value: unknown } | { site: string; notFound: GraphQLError } | { site: string; failure: GraphQLError };

/** Any thrown or returned value as a GraphQLError. */
export function errorOf(e: unknown): GraphQLError {
  return e instanceof GraphQLError ? e : new GraphQLError(String((e as Error)?.message ?? e));
}

/** Sorts a site's error: NOT_FOUND (it does not have the object) or a failure of the site. */
export function classify(site: string, error: unknown): Outcome {
  const errors = error instanceof AggregateError ? error.errors : [error];
  const failure = errors.find((e) => (e as GraphQLError)?.extensions?.code !== 'NOT_FOUND');
  if (!failure) return { site, notFound: errors[0] as GraphQLError };
  return { site, failure: failure instanceof GraphQLError ? failure : new GraphQLError(String((failure as Error)?.message ?? failure)) };
}

/** The codes the HTTP executor gives when a site did not answer (refused, reset, timed out, not GraphQL). */
const TRANSPORT_CODES = new Set(['SUBREQUEST_HTTP_ERROR', 'TIMEOUT_ERROR', 'DOWNSTREAM_SERVICE_ERROR']);

/** A site's failure as the caller sees it: the site named, its code and details (UNAVAILABLE when it did not answer). */
export function siteError(site: string, error: GraphQLError, info: GraphQLResolveInfo): GraphQLError {
  const code = typeof error.extensions?.code === 'string' && !TRANSPORT_CODES.has(error.extensions.code) ? error.extensions.code : 'UNAVAILABLE';
  const message = code === 'UNAVAILABLE' ? `Site ${site} is unavailable: ${error.message}` : `Site ${site}: ${error.message}`;
  const details = code === 'UNAVAILABLE' ? {} : ((error.extensions?.details as Record<string, unknown> | undefined) ?? {});
  return new GraphQLError(message, { path: responsePathAsArray(info.path), extensions: { code, details: { ...details, site } } });
}

/** NOT_FOUND: the caller's group sees nothing of the field at the sites it is linked to (none has it, or none is linked). */
export function notLinked(info: GraphQLResolveInfo): GraphQLError {
  return new GraphQLError(`Not found: your group sees nothing of ${info.fieldName} at the sites it is linked to`, { path: responsePathAsArray(info.path), extensions: { code: 'NOT_FOUND' } });
}

/**
 * The lists several sites answered for the field being resolved (`info`), one after another, as
 * the merged answer. An error a site answered inside one of its items (GraphQL Tools keeps it in
 * the item, at its path in the site's answer: the index in the site's own list) is moved to the
 * item's index in the merged list, so that its `path` names the item of the merged answer. A flat
 * list (FlatObjects: no error in it) is taken as it is; a value that is not a list adds nothing.
 */
export function mergedLists(lists: readonly unknown[], info: GraphQLResolveInfo): unknown[] {
  const merged: unknown[] = [];
  let depth = -1;
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    const offset = merged.length;
    if (offset && depth < 0) depth = responsePathAsArray(info.path).length;
    for (let i = 0; i < list.length; i++) merged.push(offset ? atIndex(list[i], depth, i, offset + i) : list[i]);
  }
  return merged;
}

/** `value` (part of a site's list item at index `from`) with each error in it whose path has `from` at `depth` moved to index `to`; objects and lists changed in place. */
function atIndex(value: unknown, depth: number, from: number, to: number): unknown {
  if (value === null || typeof value !== 'object' || value instanceof FlatObject) return value;
  if (value instanceof GraphQLError) return value.path?.[depth] === from ? relocatedError(value, value.path.map((segment, i) => (i === depth ? to : segment))) : value;
  if (value instanceof AggregateError) return new AggregateError(value.errors.map((e) => atIndex(e, depth, from, to)), value.message);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = atIndex(value[i], depth, from, to);
    return value;
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const moved = atIndex(object[key], depth, from, to);
    if (moved !== object[key]) object[key] = moved;
  }
  return object;
}
