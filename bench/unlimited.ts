/**
 * Settings that turn the gateway's (and `rsp federate`'s) rate limits and socket caps off (those of sockets without a
 * token at their upgrade too: the fan-out clients send theirs in `connection_init`): benchmarks drive one gateway (or federation)
 * from one address with one token, far past what a client may.
 */
export const UNLIMITED: Record<string, string> = {
  RSP_RATE_QUERIES_PER_MINUTE: '0',
  RSP_RATE_MUTATIONS_PER_MINUTE: '0',
  RSP_RATE_GROUP_QUERIES_PER_MINUTE: '0',
  RSP_RATE_GROUP_MUTATIONS_PER_MINUTE: '0',
  RSP_RATE_SOCKETS_PER_MINUTE: '0',
  RSP_MAX_SOCKETS_PER_ADDRESS: '0',
  RSP_MAX_CONNECTIONS: '0',
  RSP_MAX_CONNECTIONS_PER_ADDRESS: '0',
  RSP_MAX_SUBSCRIPTIONS_PER_SOCKET: '0',
  RSP_MAX_ANONYMOUS_SOCKETS: '0',
  RSP_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS: '0',
  RSP_FEDERATION_MAX_CONNECTIONS: '0',
  RSP_FEDERATION_MAX_CONNECTIONS_PER_ADDRESS: '0',
};
