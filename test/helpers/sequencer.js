'use strict';
const { relative } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

/**
 * The suites measured slowest on the 2-core CI machine, longest first, started first: on a fresh
 * machine jest has no timings and orders by file size, which starts some of them last and leaves
 * one worker running alone at the end. The first four are the CI run of 2026-12-05 (seconds), the
 * rest the run of 2026-12-04, all shorter than those four in the later run. `.ci/run` prints each
 * run's slowest suites: keep this list in step with them.
 */
const SLOWEST = [
  'test/e2e/package-install.test.ts', // 118
  'test/integration/libvirt-environments.test.ts', // 65
  'test/integration/libvirt-networks.test.ts', // 62
  'test/integration/lxc-networks.test.ts', // 60
  'test/e2e/cli-upgrades.test.ts',
  'test/integration/libvirt-qemu-conformance.test.ts',
  'test/e2e/first-start.test.ts',
  'test/integration/first-start.test.ts',
  'test/integration/agent-and-plugins.test.ts',
  'test/e2e/cli-backup.test.ts',
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
