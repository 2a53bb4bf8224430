'use strict';
const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/**
 * The suites measured slowest on the 2-core CI machine, longest first, started first: on a fresh
 * machine jest has no timings and orders by file size, which starts some of them last and leaves
 * one worker running alone at the end (uml-plugin, 101 s, is the 89th file of 217 by size). The
 * first four are the CI run of 2026-12-05 (seconds), the rest earlier runs, all shorter than those
 * four. `.ci/run` prints each run's slowest suites: keep this list in step with them.
 */
const SLOWEST = [
  'test/e2e/package-install.test.ts', // 148
  'test/e2e/cli-backup.test.ts', // 113
  'test/integration/uml-plugin.test.ts', // 101
  'test/integration/libvirt-environments.test.ts', // 87
  'test/integration/libvirt-networks.test.ts',
  'test/integration/lxc-networks.test.ts',
  'test/e2e/cli-upgrades.test.ts',
  'test/integration/libvirt-qemu-conformance.test.ts',
  'test/e2e/first-start.test.ts',
  'test/integration/first-start.test.ts',
  'test/integration/agent-and-plugins.test.ts',
  'test/integration/persistence.test.ts',
  'test/integration/lifecycle-statements.test.ts',
];

/** jest's own order (failed first, then by timing or size), with the known slowest suites moved to the front. */
class SlowestFirst extends Sequencer {
  sort(tests) {
    const rank = (test) => {
      const i = SLOWEST.indexOf(relative(test.context.config.rootDir, test.path));
      return i === -1 ? SLOWEST.length : i;
    };
    return [...super.sort(tests)].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = SlowestFirst;
