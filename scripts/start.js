#!/usr/bin/env node
// `npm start`: installs what is missing, builds (the gateway, the SDK and example plugin packages,
// and the dashboard when its sources changed), then runs `rsp serve` (which migrates the embedded
// database and serves). Extra arguments go to `rsp serve`. On a Node.js older than RSP needs, it
// runs under Node.js 22 fetched from the npm registry (scripts/node-runtime.js).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
require('./ensure-deps');
const { useSupportedNode } = require('./node-runtime');

if (useSupportedNode()) start();

/** Builds, then serves in a child process that gets this one's signals. */
function start() {
  process.stderr.write('rsp: building…\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'packages', 'sdk'), join(root, 'plugins', 'examples', 'sandbox-driver'), join(root, 'plugins', 'uml')], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [join(root, 'scripts', 'build-web.js'), '--if-stale'], { cwd: root, stdio: 'inherit' });

  const { GATEWAY_NODE_FLAGS } = require(join(root, 'dist', 'gateway', 'server', 'node-flags.js'));
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, join(root, 'dist', 'gateway', 'cli', 'rsp.js'), 'serve', ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
