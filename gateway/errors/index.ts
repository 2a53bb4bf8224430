export * from './rsp-error';
export { formatGraphQLError } from './format-graphql-error';
export { fromDatabaseError } from "./database-error";
