#!/usr/bin/env node
// Makes sure the native libvirt binding (@unraid/libvirt) has its compiled addon after an install.
// Its own install script (node-pre-gyp, allowed in package.json "allowScripts") tries a prebuilt
// download, which this network cannot reach, then builds from source; one install was seen to end
// with no build/Release/libvirt.node. This runs `node-gyp rebuild` in the package's folder when the
// addon is missing and libvirt's headers are installed (Debian: libvirt-dev). It never fails the
// install: without the addon the libvirt driver's probe() says why.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

// Under this package (a clone, a global install) or, for a package installed as a dependency,
// hoisted next to it in the project's node_modules.
const pkgDir = [join(__dirname, '..', 'node_modules', '@unraid', 'libvirt'), join(__dirname, '..', '..', '..', '@unraid', 'libvirt')].find((d) => existsSync(join(d, 'package.json'))) ?? join(__dirname, '..', 'node_modules', '@unraid', 'libvirt');
const addon = join(pkgDir, 'build', 'Release', 'libvirt.node');

function hasLibvirtHeaders() {
  try {
    execFileSync('pkg-config', ['--exists', 'libvirt'], { stdio: 'ignore' });
    return true;
  } catch {
    return existsSync('/usr/include/libvirt/libvirt.h');
  }
}

function nodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

// Node's headers from the local install (this network cannot download them): npm's nodedir
// setting, else the headers next to the running node (Debian's nodejs: /usr/include/node).
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const local = join(dirname(process.execPath), '..');
  return existsSync(join(local, 'include', 'node', 'node_api.h')) ? local : undefined;
}

if (!existsSync(pkgDir)) process.exit(0);
if (existsSync(addon)) process.exit(0);
if (!hasLibvirtHeaders()) {
  process.stderr.write('rsp: @unraid/libvirt not built: libvirt headers missing (apt-get install libvirt-dev, then npm rebuild); the libvirt driver will report itself unavailable\n');
  process.exit(0);
}
const gyp = nodeGyp();
if (!gyp) {
  process.stderr.write('rsp: @unraid/libvirt not built: node-gyp not found\n');
  process.exit(0);
}
process.stderr.write('rsp: building @unraid/libvirt (node-gyp rebuild)…\n');
try {
  const dir = nodeDir();
  execFileSync(process.execPath, [gyp, 'rebuild', ...(dir ? [`--nodedir=${dir}`] : [])], { cwd: pkgDir, stdio: 'inherit' });
} catch (e) {
  process.stderr.write(`rsp: building @unraid/libvirt failed (${e.message}); the libvirt driver will report itself unavailable\n`);
}
