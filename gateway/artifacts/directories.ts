import { opendir } from 'node:fs/promises';

/** The names of the directories directly in `dir`, sorted; none when `dir` does not exist. */
export async function subdirectories(dir: string): Promise<string[]> {
  try {
    const names: string[] = [];
    for await (const entry of await opendir(dir)) if (entry.isDirectory()) names.push(entry.name);
    return names.sort();
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}

/** True when a file-system error says the path does not exist. */
export function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}
