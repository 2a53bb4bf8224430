import { RspProcess, spawnRsp } from './cli';

/** A GraphQL answer as it came: data and errors with their codes. */
export interface GraphqlReply {
  data?: any;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** An `rsp serve` process and a GraphQL client for it as the site admin. */
export interface ServedGateway {
  server: RspProcess;
  /** `http://host:port` */
  url: string;
  /** The GraphQL endpoint (HTTP); the graphql-ws one is the same path on `ws://`. */
  graphqlUrl: string;
  /** The site admin's token: the first start's banner prints it. */
  token: string;
  ok<T = any>(query: string, variables?: Record<string, unknown>): Promise<T>;
  gql(query: string, variables?: Record<string, unknown>): Promise<GraphqlReply>;
  /** Kills the process with -9 and waits for it to be gone. */
  kill9(): Promise<void>;
  /** Whether the process is still alive. */
  alive(): boolean;
}

/**
 * Starts `rsp serve --data-dir dataDir --port port` with `env` (the database, drivers, agents…;
 * `RSP_BOOTSTRAP=off` unless it says otherwise) and waits for its banner. The first start on a
 * database prints the admin token; later ones are given it as `token`.
 */
export async function serveGateway(options: { dataDir: string; env: Record<string, string | undefined>; port?: number; token?: string; startTimeoutMs?: number }): Promise<ServedGateway> {
  // They build the state they need from an empty database: no first-start set-up unless `env` asks.
  const server = spawnRsp(['serve', '--port', String(options.port ?? 0), '--data-dir', options.dataDir], { RSP_BOOTSTRAP: 'off', ...options.env });
  const [, graphqlUrl] = await server.waitFor(/GraphQL endpoint:\s+(\S+)/, options.startTimeoutMs ?? 180_000);
  const token = /keep it safe:\s+(\S+)/.exec(server.output().stdout)?.[1] ?? options.token;
  if (!token) throw new Error('the gateway printed no admin token and none was given');
  const gql: ServedGateway['gql'] = async (query, variables) => {
    const res = await fetch(graphqlUrl!, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as GraphqlReply;
  };
  const alive = () => server.child.exitCode === null && server.child.signalCode === null;
  return {
    server,
    url: new URL(graphqlUrl!).origin,
    graphqlUrl: graphqlUrl!,
    token,
    gql,
    async ok(query, variables) {
      const res = await gql(query, variables);
      if (res.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
      return res.data;
    },
    async kill9() {
      if (alive()) server.child.kill('SIGKILL');
      await server.exited;
    },
    alive,
  };
}
