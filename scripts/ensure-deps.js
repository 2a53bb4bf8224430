#!/usr/bin/env node
// Installs the dependencies when they are missing or older than package-lock.json, so that
// `npm start` and `npm test` work on a fresh clone with no `npm install` run before.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function needsInstall() {
  if (!existsSync(marker)) return true;
  return existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000;
}

if (needsInstall()) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  process.stderr.write(`rsp: installing dependencies (npm ${args[0]})…\n`);
  execFileSync(npm, args, { cwd: root, stdio: 'inherit' });
}
