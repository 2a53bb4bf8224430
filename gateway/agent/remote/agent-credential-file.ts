import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** What `rsp agent` keeps after enrolling: which gateway, which agent, and its credential. */
export interface SavedAgentCredential {
  gateway: string;
  /** Empty while enrolling with a join token that names the agent. */
  agentId: string;
  credential: string;
  /**
   * The credential was chosen by the agent and offered with its join token, and no welcome has
   * confirmed it yet: the next connection offers it again with the token.
   */
  enrolling?: boolean;
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

/**
 * Saves the credential, readable by its owner only (0600). It is written beside the file and
 * renamed over it, so a reader (or a crash) never meets a half-written credential.
 */
export async function saveCredential(dataDir: string, saved: SavedAgentCredential): Promise<void> {
  const file = credentialFile(dataDir);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  await rename(partial, file);
}
