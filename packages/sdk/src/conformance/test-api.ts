/**
 * The few test-runner functions the conformance suite needs. Jest (and Vitest with globals) provide
 * them as globals; another runner can pass its own.
 */
export interface TestApi {
  describe(name: string, body: () => void): void;
  test(name: string, body: () => Promise<void>, timeoutMs?: number): void;
  beforeAll(body: () => Promise<void>, timeoutMs?: number): void;
  afterAll(body: () => Promise<void>, timeoutMs?: number): void;
}

/** The runner's globals; throws naming what is missing when the suite runs outside a test runner. */
export function globalTestApi(): TestApi {
  const g = globalThis as unknown as Partial<TestApi> & { it?: TestApi['test'] };
  const test = g.test ?? g.it;
  if (!g.describe || !test || !g.beforeAll || !g.afterAll) {
    throw new Error('runConformanceSuite needs a test runner with describe/test/beforeAll/afterAll globals (jest, or pass options.testApi)');
  }
  return { describe: g.describe, test, beforeAll: g.beforeAll, afterAll: g.afterAll };
}
