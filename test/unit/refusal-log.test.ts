import type { Logger } from '../../gateway/logging/logger';
import { RefusalLog } from '../../gateway/limits/refusal-log';

/** A logger that keeps its warnings. */
function keepingLogger(): { logger: Logger; warnings: Array<{ fields: Record<string, unknown>; message: string }> } {
  const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const logger = { warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }) } as unknown as Logger;
  return { logger, warnings };
}

describe('refusal log', () => {
  test('a burst of refusals is one line, counted by limit', () => {
    const { logger, warnings } = keepingLogger();
    const log = new RefusalLog(logger, 60_000);
    for (let i = 0; i < 400; i++) log.count('RSP_MAX_ANONYMOUS_SOCKETS');
    for (let i = 0; i < 2000; i++) log.count('subscriptions without a token');
    expect(warnings).toEqual([]);
    log.flush();
    expect(warnings).toEqual([{ fields: { refused: { RSP_MAX_ANONYMOUS_SOCKETS: 400, 'subscriptions without a token': 2000 }, windowSeconds: 60 }, message: expect.stringMatching(/refused/) }]);
    // Nothing new: nothing to say.
    log.flush();
    expect(warnings).toHaveLength(1);
  });

  test('the window ends by itself', async () => {
    const { logger, warnings } = keepingLogger();
    const log = new RefusalLog(logger, 10);
    log.count('RSP_MAX_SOCKETS_PER_ADDRESS');
    for (let i = 0; i < 200 && !warnings.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(warnings).toEqual([{ fields: { refused: { RSP_MAX_SOCKETS_PER_ADDRESS: 1 }, windowSeconds: 0.01 }, message: expect.any(String) }]);
  });
});
