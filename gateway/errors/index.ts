export * from './rsp-error';
export * from './artifact-errors';
export { formatGraphQLError, graphQLErrorCode } from './format-graphql-error';
export { fromDatabaseError, outageOf, OutageError, OUTAGE_RETRY_AFTER_SECONDS, type Dependency } from './database-error';
