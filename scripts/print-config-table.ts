// Prints the README's configuration table, generated from the settings schema (gateway/config/config.ts)
// so the two cannot drift. `npm run docs:config` prints it; `npm run docs:config -- --write` puts it
// into README.md between the config-table markers. A test fails when the README differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsTable } from '../gateway/config/config';

/** The markers around the generated table in README.md. */
export const TABLE_START = '<!-- config-table:start (generated from gateway/config/config.ts by `npm run docs:config -- --write`; do not edit) -->';
export const TABLE_END = '<!-- config-table:end -->';

/** The markdown table of every setting: its variables, default and meaning. */
export function configTable(): string {
  const rows = settingsTable().map((r) => `| ${r.variables.map((v) => `\`${v}\``).join(' ')} | ${r.shown} | ${r.doc} |`);
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The table as README.md has it between the markers (undefined without them). */
export function readmeTable(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  return start < 0 || end < start ? undefined : readme.slice(start + TABLE_START.length, end).trim();
}

if (require.main === module) {
  const table = configTable();
  if (process.argv.includes('--write')) {
    // dist/scripts/ when built, scripts/ otherwise: README.md is at the repository root.
    const file = [join(__dirname, '..', 'README.md'), join(__dirname, '..', '..', 'README.md')].find((f) => { try { return readmeTable(readFileSync(f, 'utf8')) !== undefined; } catch { return false; } });
    if (!file) throw new Error(`README.md with the ${TABLE_START} and ${TABLE_END} markers not found`);
    const readme = readFileSync(file, 'utf8');
    const start = readme.indexOf(TABLE_START) + TABLE_START.length;
    writeFileSync(file, `${readme.slice(0, start)}\n${table}\n${readme.slice(readme.indexOf(TABLE_END))}`);
    process.stdout.write(`wrote the configuration table of ${file}\n`);
  } else process.stdout.write(`${table}\n`);
}
