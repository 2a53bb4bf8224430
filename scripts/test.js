#!/usr/bin/env node
// `npm test`: installs what is missing, then runs Jest (its arguments passed on) on a supported
// Node.js — on an older one, under Node.js 22 fetched from the npm registry (scripts/node-runtime.js).
'use strict';
const { spawn } = require('node:child_process');
const { join } = require('node:path');

require('./ensure-deps');
const { useSupportedNode } = require('./node-runtime');

if (useSupportedNode()) {
  const jest = join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
  const child = spawn(process.execPath, ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', jest, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
