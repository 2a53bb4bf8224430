#!/usr/bin/env node
// Builds the dashboard (web/ → dist/web): type-checks web/ with its own tsconfig, then bundles it
// with Vite (assets from npm packages only, fingerprinted under dist/web/assets). Its GraphQL
// documents and types come from client/generated/graphql.ts (`npm run codegen`, committed).
// `--if-stale`: does nothing when dist/web is newer than every file of web/, client/ and package-lock.json.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const web = join(root, 'web');
const client = join(root, 'client');
const built = join(root, 'dist', 'web', 'index.html');

/** The newest modification time of the files under `dir`. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function stale() {
  if (!existsSync(built)) return true;
  const sources = Math.max(newest(web), newest(client), statSync(join(root, 'package-lock.json')).mtimeMs);
  return sources > statSync(built).mtimeMs;
}

if (process.argv.includes('--if-stale') && !stale()) process.exit(0);

process.stderr.write('rsp: building the dashboard…\n');
const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' } });
run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(web, 'tsconfig.json')]);
run([join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(web, 'vite.config.mts'), '--logLevel', 'warn']);
