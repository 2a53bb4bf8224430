import { GraphQLError, GraphQLResolveInfo, responsePathAsArray } from 'graphql';

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
