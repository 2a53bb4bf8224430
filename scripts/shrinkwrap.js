#!/usr/bin/env node
// Writes npm-shrinkwrap.json for the packed package (`npm pack` runs it as prepack; postpack
// removes it): package-lock.json without the development dependencies and the workspace packages,
// so `npm install -g <tarball>` installs exactly the versions the repository is tested with (an
// install from a tarball ignores package-lock.json and would take the newest matching releases).
// `--out <dir>` writes it there instead of the repository root; `--remove` deletes it.
'use strict';
const { readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const outAt = process.argv.indexOf('--out');
const target = join(outAt >= 0 ? process.argv[outAt + 1] : root, 'npm-shrinkwrap.json');

if (process.argv.includes('--remove')) {
  rmSync(target, { force: true });
  process.exit(0);
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const packages = {};
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === '') {
    const { workspaces: _workspaces, devDependencies: _dev, ...rootEntry } = entry;
    packages[path] = rootEntry;
  } else if (path.startsWith('node_modules/') && !entry.dev && !entry.link) {
    packages[path] = entry;
  }
}
writeFileSync(target, `${JSON.stringify({ ...lock, packages }, null, 2)}\n`);
process.stderr.write(`rsp: ${target}: ${Object.keys(packages).length - 1} packages pinned\n`);
