import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentServer, type AgentServerDeps } from '../../../gateway/agent/remote/agent-server';

/** An AgentServer on `deps` taking the upgrades of an HTTP server on 127.0.0.1 (a free port): its /agent URL, and a close of both. */
export async function serveAgentServer(deps: AgentServerDeps): Promise<{ url: string; close: () => Promise<void> }> {
  const agents = new AgentServer(deps);
  const http = createServer();
  http.on('upgrade', (req, socket, head) => agents.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/agent`,
    close: async () => {
      await agents.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
