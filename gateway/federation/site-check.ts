import type { FederationConfig } from './config';

/** How long `rsp federate` waits for each site's answer at its start. */
const CHECK_TIMEOUT_MS = 5000;

/**
 * What `rsp federate` says of each member site when it starts, one line each, in configuration
 * order: whether it answers, and whether it takes each linked group's token (`{ viewer { groupId } }`
 * with that token). A site down or a revoked token is only said: the federation serves anyway, and
 * that site's fields answer UNAVAILABLE or UNAUTHENTICATED until it is fixed.
 */
export async function checkSites(config: FederationConfig, timeoutMs = CHECK_TIMEOUT_MS): Promise<string[]> {
  return Promise.all(
    config.sites.map(async (site) => {
      const links = config.groups.filter((g) => site.name in g.links).map((g) => ({ group: g.name, token: g.links[site.name]! }));
      if (!links.length) return `site ${site.name}: no group is linked to it (rsp federation join ${site.name} --group <group> --site-url ${site.url} --site-token …)`;
      const results = await Promise.all(links.map(async ({ group, token }) => ({ group, problem: await tokenProblem(site.url, token, timeoutMs) })));
      const unreachable = results.find((r) => r.problem?.startsWith('cannot be reached'));
      if (unreachable) return `site ${site.name}: ${unreachable.problem} at ${site.url}; its part of every answer is UNAVAILABLE until it answers`;
      const refused = results.filter((r) => r.problem);
      if (!refused.length) return `site ${site.name}: answers, and takes the token of ${results.map((r) => r.group).join(', ')}`;
      return refused.map((r) => `site ${site.name}: ${r.problem} for group ${r.group}: ask the site's admin for a new token (rsp token create … --group <local group>), then rsp federation join ${site.name} --group ${r.group} --site-url ${site.url} --site-token … again`).join('\n');
    }),
  );
}

/** Why a site does not take `token` (unreachable, refused, not a GraphQL answer), or null when it does. */
async function tokenProblem(url: string, token: string, timeoutMs: number): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ viewer { groupId } }' }), redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? ((e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e as Error).message);
    return `cannot be reached (${cause})`;
  }
  let body: { data?: { viewer?: { groupId?: string | null } | null } | null; errors?: Array<{ message?: string; extensions?: { code?: string } }> };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    return `answers HTTP ${response.status}, not GraphQL (is ${url} a site's /graphql?)`;
  }
  const error = body.errors?.[0];
  if (error) return `refuses the token (${error.extensions?.code ?? `HTTP ${response.status}`}: ${error.message ?? 'no message'})`;
  if (!body.data?.viewer?.groupId) return 'takes the token, but it is no group\'s (a site-admin token links no group)';
  return null;
}
