#!/usr/bin/env node
// Installs the dependencies when they are missing or older than package-lock.json, so that
// `npm start` and `npm test` work on a fresh clone with no `npm install` run before. Any Node.js
// with npm installs them (the libvirt binding is an N-API addon every Node.js line loads);
// scripts/node-runtime.js then runs RSP itself on a supported one.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, lstatSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');

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
