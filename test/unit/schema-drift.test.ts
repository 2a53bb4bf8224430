import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printedSchema } from '../../scripts/print-schema';

test('schema.graphql is the printed schema (run `npm run schema:print` after changing the API)', async () => {
  const checkedIn = readFileSync(join(__dirname, '..', '..', 'schema.graphql'), 'utf8');
  expect(await printedSchema()).toBe(checkedIn);
});
