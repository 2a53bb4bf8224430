// The Node.js RSP runs on (package.json's engines: 22 from 22.15, 24 from 24.11, later majors).
// `npm start` and `npm test` run under whatever `node` the machine has: on an older one (Debian
// 12 ships Node 20), `useSupportedNode()` fetches Node.js 22 from the npm registry once (the `node`
// package carries the binary) into .rsp/node, then runs the same script again under it, its bin
// directory first on PATH so that what it starts finds the same node.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdirSync } = require('node:fs');
const { constants } = require('node:os');
const { delimiter, join } = require('node:path');

const root = join(__dirname, '..');

/** Whether `version` (e.g. "22.15.0") is a Node.js release RSP supports. */
function supportedNode(version) {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return (major === 22 && minor >= 15) || (major === 24 && minor >= 11) || major >= 25;
}

/** The bin directory of Node.js 22 fetched from the npm registry into `dir` (once). */
function fetchedNode(dir) {
  const bin = join(dir, 'node_modules', 'node', 'bin');
  const node = join(bin, 'node');
  const version = () => execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  if (existsSync(node) && supportedNode(version())) return bin;
  process.stderr.write(`rsp: Node.js ${process.versions.node} is too old for RSP (it needs Node.js 22.15+ or 24.11+): fetching Node.js 22 from the npm registry into ${dir} (once)…\n`);
  mkdirSync(dir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(npm, ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, 'node@22'], { stdio: 'inherit' });
  if (!existsSync(node) || !supportedNode(version())) throw new Error(`the Node.js fetched into ${dir} does not run here: install Node.js 22 or 24 (https://nodejs.org) and try again`);
  return bin;
}

/**
 * True when this process runs on a supported Node.js: the caller goes on. Otherwise runs this same
 * script with the same arguments under Node.js 22 fetched from the npm registry (RSP_NODE_DIR,
 * default .rsp/node), passes it the signals this process gets, exits with its status, and returns
 * false: the caller does nothing more. RSP_NO_NODE_FETCH=1 refuses instead, saying what is needed.
 */
function useSupportedNode() {
  if (supportedNode(process.versions.node)) return true;
  const needed = `Node.js ${process.versions.node} is not supported: RSP needs Node.js 22 (22.15 or later) or 24 (24.11 or later)`;
  if (process.env.RSP_NO_NODE_FETCH === '1') {
    process.stderr.write(`rsp: ${needed}\n`);
    process.exit(1);
  }
  let bin;
  try {
    bin = fetchedNode(process.env.RSP_NODE_DIR || join(root, '.rsp', 'node'));
  } catch (e) {
    process.stderr.write(`rsp: ${needed}, and fetching Node.js 22 failed: ${e.message}\n`);
    process.exit(1);
  }
  const path = `${bin}${delimiter}${process.env.PATH ?? ''}`;
  const child = spawn(join(bin, 'node'), [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, PATH: path } });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (e) => {
    process.stderr.write(`rsp: could not run Node.js from ${bin}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
  return false;
}

module.exports = { supportedNode, useSupportedNode };
