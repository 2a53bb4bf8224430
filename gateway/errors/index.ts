export * from './rsp-error';
export * from './artifact-errors';
export { formatGraphQLError } from './format-graphql-error';
export { fromDatabaseError } from "./database-error";
