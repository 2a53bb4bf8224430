/**
 * Jest: TypeScript through @swc/jest (decorators with their metadata for type-graphql and TypeORM,
 * class fields as tsc emits them for ES2022), one engine probe for the run. swc transpiles the
 * gateway's modules several times faster than ts-jest (a cold jest worker spent most of its start
 * there); neither checks types (`npm run typecheck`, and the global setup's tsc build, do). A
 * checkout whose node_modules predates @swc/jest (a worktree linking an older install) falls back
 * to ts-jest with the same output semantics.
 */
function transformer() {
  try {
    require.resolve('@swc/jest');
  } catch {
    return ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }];
  }
  return [
    '@swc/jest',
    {
      swcrc: false,
      sourceMaps: 'inline',
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        // As tsconfig.json: experimentalDecorators + emitDecoratorMetadata, target ES2022 (so useDefineForClassFields).
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: true },
        target: 'es2022',
      },
      // As tsc with module node16: import() stays a real dynamic import (ESM-only packages such as
      // @unraid/libvirt, ES module plugins), not a require().
      module: { type: 'commonjs', ignoreDynamic: true },
    },
  ];
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': transformer(),
  },
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testSequencer: '<rootDir>/test/helpers/sequencer.js',
  setupFiles: ['reflect-metadata'],
  testTimeout: 180_000,
  maxWorkers: 2,
  reporters: [['default', { summaryThreshold: 0 }]],
};
