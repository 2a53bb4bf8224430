import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GENERATED } from '../../codegen';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

test(`${GENERATED} is what GraphQL Code Generator makes of schema.graphql and the documents (run \`npm run codegen\` after changing either)`, async () => {
  // --check generates in memory and exits with 1, naming the stale files, when they differ from those on disk.
  const check = await run(process.execPath, [join(ROOT, 'node_modules', '@graphql-codegen', 'cli', 'cjs', 'bin.js'), '--config', 'codegen.ts', '--check'], { cwd: ROOT }).then(
    () => ({ code: 0, output: '' }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: `${e.stdout}${e.stderr}` }),
  );
  expect(check).toEqual({ code: 0, output: '' });
});
