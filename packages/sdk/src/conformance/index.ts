/** The driver conformance suite, for every driver and for plugin authors. */
export { runConformanceSuite } from './suite';
export type { ConformanceOptions, ConformanceSubject } from './suite';
export type { TestApi } from './test-api';
