import type { TestGateway } from './gateway';

const STATE = `{
  groups(first: 100) { nodes { id slug name } }
  sites(first: 100) { nodes { id name ownerGroupId } }
  hosts(first: 100) { nodes { hostname siteId ownerGroupId arch state agentConnection { agentId } inventoryFromFacts drivers facts { drivers { name } } resources { type unit total source } } }
  images { name version technology vendorGroupId visibility source digest }
}`;

/** One host as `machineState` shows it. */
export interface HostState {
  hostname: string;
  site: string;
  owner: string;
  arch: string;
  state: string;
  agent: string;
  inventoryFromFacts: boolean;
  drivers: string[];
  factsDrivers: string[];
  resources: Array<{ type: string; unit: string; total: number; source: string }>;
}

/** What a gateway holds of groups, sites, hosts (with resources) and images, by names rather than ids, sorted: two set-ups compare equal when they made the same. */
export async function machineState(t: TestGateway, token?: string): Promise<{
  groups: Array<{ id: string; slug: string; name: string }>;
  sites: Array<{ name: string; owner: string }>;
  hosts: HostState[];
  images: Array<{ name: string; version: string; technology: string; vendor: string; visibility: string; source: string; digest: string | null }>;
}> {
  const data = await t.ok(STATE, {}, token);
  const groups = data.groups.nodes as Array<{ id: string; slug: string; name: string }>;
  const slug = (id: string) => groups.find((g) => g.id === id)?.slug ?? id;
  const sites = data.sites.nodes as Array<{ id: string; name: string; ownerGroupId: string }>;
  const siteName = (id: string) => sites.find((s) => s.id === id)?.name ?? id;
  return {
    groups,
    sites: sites.map((s) => ({ name: s.name, owner: slug(s.ownerGroupId) })),
    hosts: (data.hosts.nodes as any[]).map((h) => ({
      hostname: h.hostname,
      site: siteName(h.siteId),
      owner: slug(h.ownerGroupId),
      arch: h.arch,
      state: h.state,
      agent: h.agentConnection.agentId,
      inventoryFromFacts: h.inventoryFromFacts,
      drivers: h.drivers,
      factsDrivers: (h.facts?.drivers ?? []).map((d: { name: string }) => d.name),
      resources: [...h.resources].sort((a: { type: string }, b: { type: string }) => a.type.localeCompare(b.type)),
    })),
    images: (data.images as any[]).map((i) => ({ name: i.name, version: i.version, technology: i.technology, vendor: slug(i.vendorGroupId), visibility: i.visibility, source: i.source, digest: i.digest })),
  };
}
