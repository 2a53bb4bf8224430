/**
 * The Node.js releases RSP runs on, as package.json's `engines` says (`^22.15.0 || >=24.11.0`):
 * 22 from 22.15 (`@whatwg-node/promise-helpers`, under the GraphQL stack), 24 from 24.11
 * (typeorm), and later majors. Older ones fail in ways that name something else (Node 20 has no
 * `reusePort`: the gateway's port looks in use), so the CLI says this first.
 */
export function unsupportedNode(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const supported = (major === 22 && minor >= 15) || (major === 24 && minor >= 11) || major >= 25;
  return supported ? undefined : `Node.js ${version} is not supported: RSP needs Node.js 22 (22.15 or later) or 24 (24.11 or later)`;
}
