import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { BadInputError } from '../errors/rsp-error';

const siteName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a site name is lowercase letters, digits and dashes');

const configSchema = z.object({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().optional(),
  /** The member sites: each one's GraphQL endpoint (HTTP; graphql-ws on the same path). */
  sites: z.array(z.object({ name: siteName, url: z.url() })),
  /**
   * The federation's groups: the hash of the key their callers present, and per site the token
   * that site issued for the local group it linked (the site's consent: revoking it ends the link).
   */
  groups: z.array(z.object({ name: siteName, keySha256: z.string().regex(/^[0-9a-f]{64}$/), links: z.record(z.string(), z.string().min(1)) })),
});

/** A federation's configuration: its member sites and its groups with their links to each site. */
export type FederationConfig = z.infer<typeof configSchema>;

/** The SHA-256 (hex) of a federation key: the configuration stores only that. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Reads and checks a federation configuration file (an absent file is an empty federation). */
export function readFederationConfig(file: string): FederationConfig {
  if (!existsSync(file)) return { sites: [], groups: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BadInputError(`Federation config ${file} is not JSON: ${(e as Error).message}`, { file });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`Federation config ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, { file });
  const config = parsed.data;
  const names = new Set(config.sites.map((s) => s.name));
  if (names.size !== config.sites.length) throw new BadInputError(`Federation config ${file} names a site twice`, { file });
  for (const g of config.groups) {
    for (const site of Object.keys(g.links)) if (!names.has(site)) throw new BadInputError(`Federation config ${file}: group ${g.name} is linked to unknown site ${site}`, { file, group: g.name, site });
  }
  return config;
}

/** Writes the configuration whole (a temporary file renamed over it), readable by its owner only. */
export function writeFederationConfig(file: string, config: FederationConfig): void {
  configSchema.parse(config);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Adds a group to the federation; returns its new key (shown once: only its hash is kept). */
export function addFederationGroup(config: FederationConfig, name: string): { config: FederationConfig; key: string } {
  siteName.parse(name);
  if (config.groups.some((g) => g.name === name)) throw new BadInputError(`Federation group ${name} already exists`, { group: name });
  const key = `rspf_${randomBytes(24).toString('base64url')}`;
  return { key, config: { ...config, groups: [...config.groups, { name, keySha256: keyHash(key), links: {} }] } };
}

/**
 * Links a federation group to a site with the token the site's admin issued for the local group
 * (adding the site, or checking its URL, as needed).
 */
export function joinSite(config: FederationConfig, input: { site: string; url: string; group: string; token: string }): FederationConfig {
  siteName.parse(input.site);
  const known = config.sites.find((s) => s.name === input.site);
  if (known && known.url !== input.url) throw new BadInputError(`Site ${input.site} is already a member at ${known.url}, not ${input.url}`, { site: input.site });
  const group = config.groups.find((g) => g.name === input.group);
  if (!group) throw new BadInputError(`No federation group ${input.group}: add it first (rsp federation group-add ${input.group})`, { group: input.group });
  return {
    ...config,
    sites: known ? config.sites : [...config.sites, { name: input.site, url: input.url }],
    groups: config.groups.map((g) => (g === group ? { ...g, links: { ...g.links, [input.site]: input.token } } : g)),
  };
}

/** Removes a group's link to a site (the site's token stays valid at the site until revoked there). */
export function leaveSite(config: FederationConfig, input: { site: string; group: string }): FederationConfig {
  const group = config.groups.find((g) => g.name === input.group);
  if (!group || !(input.site in group.links)) throw new BadInputError(`Group ${input.group} is not linked to site ${input.site}`, { group: input.group, site: input.site });
  const links = { ...group.links };
  delete links[input.site];
  return { ...config, groups: config.groups.map((g) => (g === group ? { ...g, links } : g)) };
}
