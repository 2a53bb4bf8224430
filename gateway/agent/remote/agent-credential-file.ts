import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** What `rsp agent` keeps after enrolling: which gateway, which agent, and its credential. */
export interface SavedAgentCredential {
  gateway: string;
  agentId: string;
  credential: string;
}

/** Where the credential lives in the agent's data directory. */
export function credentialFile(dataDir: string): string {
  return join(dataDir, 'agent-credential.json');
}

/** The saved credential, or undefined when the agent never enrolled. */
export async function readCredential(dataDir: string): Promise<SavedAgentCredential | undefined> {
  try {
    return JSON.parse(await readFile(credentialFile(dataDir), 'utf8')) as SavedAgentCredential;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Saves the credential, readable by its owner only (0600). */
export async function saveCredential(dataDir: string, saved: SavedAgentCredential): Promise<void> {
  const file = credentialFile(dataDir);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
}
