/**
 * The `application_name` of a gateway's PostgreSQL connections (`pg_stat_activity` shows it):
 * how `rsp admin restore` tells that a gateway is running on the database.
 */
export const GATEWAY_APPLICATION_NAME = 'rsp gateway';

/** The `application_name` of the connections of other `rsp` processes (`rsp migrate`, `rsp admin`). */
export const CLI_APPLICATION_NAME = 'rsp';
