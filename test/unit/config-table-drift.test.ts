import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable, readmeTable } from '../../scripts/print-config-table';

test("README.md's configuration table is the one generated from the settings schema (run `npm run docs:config -- --write` after changing a setting)", () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  expect(readmeTable(readme)).toBe(configTable());
});
