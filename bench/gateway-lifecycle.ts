import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import pino from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../gateway/config/config';
import { StatementCounter } from '../gateway/persistence/statement-counter';
import { startGateway, type Gateway } from '../gateway/server/gateway';
import { until } from '../test/helpers/until';
import { graphqlCaller } from './graphql-caller';

/** A gateway started for a benchmark, driving environments through GraphQL like any client. */
export interface GatewayBench {
  /** create + start + stop + destroy of one environment, each step an operation followed to its end. */
  cycle(name: string): Promise<void>;
  /** Counts the gateway's SQL statements (background work included) while started. */
  statements: StatementCounter;
  /** The gateway itself (in this process), for benches that look inside it. */
  gateway: Gateway;
  /** When set: called as each step's mutation is sent (`sent`), answered (`answered`, with its operation's id) and its operation's end delivered over graphql-ws (`delivered`). */
  trace?: (event: 'sent' | 'answered' | 'delivered', operationId?: string) => void;
  close(): Promise<void>;
}

/**
 * Starts an in-process gateway (PGlite in a temp dir) with one built-in driver, registers a group,
 * site and host, and uploads `rootfsTar` as an image of `technology`. Operations are followed
 * through one `operationUpdated` subscription, as a client would. `env` adds settings (e.g.
 * `RSP_PLUGINS` for a plugin's driver).
 */
export async function startGatewayBench(driver: string, technology: string, rootfsTar: string, command?: string[], env: Record<string, string> = {}): Promise<GatewayBench> {
  const dataDir = await mkdtemp(join(tmpdir(), `rsp-bench-gw-${driver}-`));
  await chmod(dataDir, 0o711); // a hypervisor running as its own user (libvirt-qemu) reaches the disks below it
  const config = loadConfig({ PORT: '0', RSP_DATA_DIR: dataDir, RSP_DRIVERS: driver, LOG_LEVEL: 'silent', LOG_FORMAT: 'json', ...env });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), setup: false });
  const token = gateway.bootstrapToken!;
  const gql = graphqlCaller(gateway.graphqlUrl, token);

  // Assigned once the gateway is set up; the subscription's handler reads its `trace`.
  let bench: GatewayBench | undefined;
  const ended = new Map<string, string>();
  const waiters = new Map<string, (state: string) => void>();
  const ws = createClient({ url: gateway.websocketUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } });
  ws.subscribe<{ operationUpdated: { id: string; state: string; error: { message: string } | null } }>(
    { query: 'subscription { operationUpdated { id state error { message } } }' },
    {
      next: ({ data }) => {
        const op = data?.operationUpdated;
        if (!op || !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(op.state)) return;
        bench?.trace?.('delivered', op.id);
        const state = op.state === 'SUCCEEDED' ? op.state : `${op.state}: ${op.error?.message}`;
        const waiter = waiters.get(op.id);
        if (waiter) waiter(state);
        else ended.set(op.id, state);
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
  const follow = async (id: string) => {
    const state = ended.get(id) ?? (await new Promise<string>((resolve) => waiters.set(id, resolve)));
    ended.delete(id);
    waiters.delete(id);
    if (state !== 'SUCCEEDED') throw new Error(`operation ${id} ${state}`);
  };
  // Let the subscription register before any operation starts.
  await new Promise((r) => setTimeout(r, 200));

  const group = (await gql('mutation { createGroup(input: { slug: "bench", name: "bench" }) { id } }')).createGroup.id;
  const site = (await gql('mutation ($g: ID!) { createSite(input: { name: "bench", ownerGroupId: $g }) { id } }', { g: group })).createSite.id;
  const host = (await gql('mutation ($s: ID!, $g: ID!) { createHost(input: { siteId: $s, ownerGroupId: $g, hostname: "bench" }) { id } }', { s: site, g: group })).createHost.id;
  // The in-process agent's next beat makes the host UP; on a busy machine that can come after the first create would be sent.
  await until('host bench UP', async () => ((await gql('query ($id: ID!) { host(id: $id) { state } }', { id: host })).host.state === 'UP' ? true : undefined), 60_000, 25);
  const image = (await gql('mutation ($g: ID!, $t: String!) { registerImage(input: { vendorGroupId: $g, name: "bench", version: "1", technology: $t }) { id } }', { g: group, t: technology })).registerImage.id;
  const up = await fetch(`${gateway.url}/images/${image}/content`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(await readFile(rootfsTar)) });
  if (!up.ok) throw new Error(`image upload: ${up.status} ${await up.text()}`);

  const made: GatewayBench = {
    gateway,
    statements: new StatementCounter(gateway.dataSource),
    async cycle(name) {
      made.trace?.('sent');
      const created = (await gql('mutation ($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { environment { id } operation { id } } }', { i: { groupId: group, hostId: host, imageId: image, name, network: 'none', config: { A: '1' }, ...(command ? { command } : {}) } })).createEnvironment;
      made.trace?.('answered', created.operation.id);
      await follow(created.operation.id);
      const id = created.environment.id;
      for (const step of ['startEnvironment', 'stopEnvironment', 'destroyEnvironment']) {
        made.trace?.('sent');
        const operation = (await gql(`mutation ($id: ID!) { ${step}(id: $id) { id } }`, { id }))[step].id;
        made.trace?.('answered', operation);
        await follow(operation);
      }
    },
    async close() {
      await ws.dispose();
      await gateway.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  bench = made;
  return made;
}
