import { SYSTEM } from '../../gateway/auth/principal';
import { newAgentCredential } from '../../gateway/agent/remote/handshake';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * Enrollment survives a lost welcome: the agent offers the credential it chose (and saved) with
 * its join token, so trying again with the same token and credential finishes the enrollment
 * instead of being refused for a spent token. Nothing else reopens a spent token.
 */
describe('agent enrollment with a chosen credential', () => {
  let db: TestDatabase;
  let t: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const credentials = () => t.gateway.services.agentCredentials;
  const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error & { category?: string }) => `${e.category}: ${e.message}`);

  test('the same token and chosen credential again answer the same agent; another credential, none, or a revoked one are refused', async () => {
    const { token } = await credentials().createJoinToken(SYSTEM, 'edge-1');
    const chosen = newAgentCredential();
    expect(await credentials().authenticate(token, undefined, chosen)).toEqual({ agentId: 'edge-1', credential: chosen });
    // The welcome was lost: the agent dials again with what it saved.
    expect(await credentials().authenticate(token, undefined, chosen)).toEqual({ agentId: 'edge-1', credential: chosen });
    expect(await credentials().authenticate(chosen, 'edge-1')).toEqual({ agentId: 'edge-1' });

    expect(await refusal(credentials().authenticate(token, undefined, newAgentCredential()))).toBe('UNAUTHENTICATED: Agent refused: the join token was used already');
    expect(await refusal(credentials().authenticate(token))).toBe('UNAUTHENTICATED: Agent refused: the join token was used already');
    expect(await refusal(credentials().authenticate(token, 'edge-2', chosen))).toBe('UNAUTHENTICATED: Agent refused: the join token is not agent "edge-2"\'s');

    expect(await credentials().revokeCredential(SYSTEM, 'edge-1')).toBeGreaterThanOrEqual(1);
    expect(await refusal(credentials().authenticate(token, undefined, chosen))).toBe('UNAUTHENTICATED: Agent refused: the join token was used already');
    expect(await refusal(credentials().authenticate(chosen))).toBe('UNAUTHENTICATED: Agent refused: the agent credential is revoked');
  });

  test('a chosen credential must have the form of one; a token refused for it stays unspent', async () => {
    const { token } = await credentials().createJoinToken(SYSTEM, 'edge-3');
    for (const bad of ['rspa_short', `rsp_${'0'.repeat(64)}`, `rspa_${'G'.repeat(64)}`]) {
      expect(await refusal(credentials().authenticate(token, undefined, bad))).toBe('UNAUTHENTICATED: Agent refused: the credential an enrolling agent chooses is rspa_ and 64 hex digits');
    }
    const chosen = newAgentCredential();
    expect(await credentials().authenticate(token, undefined, chosen)).toEqual({ agentId: 'edge-3', credential: chosen });
  });
});
