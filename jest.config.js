/** Jest: TypeScript through ts-jest (decorator metadata for type-graphql), one engine probe for the run. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }],
  },
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testSequencer: '<rootDir>/test/helpers/sequencer.js',
  setupFiles: ['reflect-metadata'],
  testTimeout: 180_000,
  maxWorkers: 2,
  reporters: [['default', { summaryThreshold: 0 }]],
};
