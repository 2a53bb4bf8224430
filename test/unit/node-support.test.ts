import { unsupportedNode } from '../../gateway/cli/node-support';
const { supportedNode } = require('../../scripts/node-runtime.js') as { supportedNode: (version: string) => boolean };

test.each([
  ['20.20.2', false],
  ['22.14.0', false],
  ['22.15.0', true],
  ['22.23.3', true],
  ['23.11.0', false],
  ['24.10.0', false],
  ['24.11.0', true],
  ['25.0.0', true],
])('Node.js %s supported: %s (package.json engines: ^22.15.0 || >=24.11.0)', (version, supported) => {
  expect(unsupportedNode(version)).toBe(supported ? undefined : `Node.js ${version} is not supported: RSP needs Node.js 22 (22.15 or later) or 24 (24.11 or later)`);
  // npm start / npm test decide the same before they fetch Node.js 22 for an older one.
  expect(supportedNode(version)).toBe(supported);
});

test('the engines of package.json are the ones the check knows', () => {
  expect(require('../../package.json').engines.node).toBe('^22.15.0 || >=24.11.0');
});
