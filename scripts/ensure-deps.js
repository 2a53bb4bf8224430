#!/usr/bin/env node
// Installs the dependencies when they are missing or older than package-lock.json, so that
// `npm start` and `npm test` work on a fresh clone with no `npm install` run before.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, lstatSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

// The Node.js releases of package.json's engines (gateway/cli/node-support.ts says the same for the
// CLI): an older one would install and build, then fail in ways that name something else.
const [major, minor] = process.versions.node.split('.').map(Number);
if (!((major === 22 && minor >= 15) || (major === 24 && minor >= 11) || major >= 25)) {
  process.stderr.write(`rsp: Node.js ${process.versions.node} is not supported: RSP needs Node.js 22 (22.15 or later) or 24 (24.11 or later)\n`);
  process.exit(1);
}
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function needsInstall() {
  if (!existsSync(marker)) return true;
  return existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000;
}

// A checkout whose node_modules links to another's install (a git worktree sharing one, as a whole
// or entry by entry): npm ci would empty the linked folder for every checkout using it, or replace
// the links with a full install of its own, so it is never run through a link.
function sharedInstall() {
  try {
    return lstatSync(join(root, 'node_modules')).isSymbolicLink() || lstatSync(marker).isSymbolicLink();
  } catch {
    return false;
  }
}

if (needsInstall() && sharedInstall()) {
  process.stderr.write('rsp: node_modules links to an install shared with other checkouts: not reinstalling it here (run npm ci where it lives)\n');
} else if (needsInstall()) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  process.stderr.write(`rsp: installing dependencies (npm ${args[0]})…\n`);
  execFileSync(npm, args, { cwd: root, stdio: 'inherit' });
}
