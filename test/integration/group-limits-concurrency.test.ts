import { randomBytes } from 'node:crypto';
import { GROUP_RECORD_LIMITS } from '../../gateway/limits/group-records';
import { ApiTokenEntity, LayerEntity } from '../../gateway/persistence/entities';
import { createTestDatabase, DATABASE_KINDS, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, World } from '../helpers/scenario';

/**
 * A group a few records short of a cap sends many creations at once, as an attacker racing the
 * count would: exactly as many as there was room for are made, every other one is GROUP_LIMIT.
 */
describe.each(DATABASE_KINDS)('per-group caps hold under concurrent requests (%s)', (kind) => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    t = await startTestGateway(db);
    w = await buildWorld(t);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const outcomes = (results: Array<{ errors?: Array<{ extensions?: Record<string, any> }> }>) => {
    const made = results.filter((r) => !r.errors).length;
    const limited = results.filter((r) => r.errors?.[0]?.extensions?.code === 'CONFLICT' && r.errors[0].extensions.details?.reason === 'GROUP_LIMIT').length;
    return { made, limited, other: results.length - made - limited };
  };

  test('layers: 40 at once with room for 3 make 3', async () => {
    const layers = t.gateway.dataSource.getRepository(LayerEntity);
    const have = await layers.countBy({ groupId: w.groupB });
    await layers.insert(Array.from({ length: GROUP_RECORD_LIMITS.layers - have - 3 }, (_, i) => ({ groupId: w.groupB, kind: 'RACK', name: `r${i}`, parentId: null, properties: [], requirements: [] })) as never);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => t.gql('mutation ($i: CreateLayerInput!) { createLayer(input: $i) { id } }', { i: { groupId: w.groupB, kind: 'RACK', name: `race${i}` } }, w.tokens.memberB)));
    expect(outcomes(results)).toEqual({ made: 3, limited: 37, other: 0 });
    expect(await layers.countBy({ groupId: w.groupB, kind: 'RACK' })).toBe(GROUP_RECORD_LIMITS.layers - have);
  }, 120_000);

  test('tokens: 40 minted at once with room for 2 make 2', async () => {
    const tokens = t.gateway.dataSource.getRepository(ApiTokenEntity);
    const have = await tokens.countBy({ groupId: w.groupB });
    await tokens.insert(Array.from({ length: GROUP_RECORD_LIMITS.liveTokens - have - 2 }, (_, i) => ({ groupId: w.groupB, name: `t${i}`, role: 'MEMBER', siteAdmin: false, secretHash: randomBytes(32).toString('hex'), prefix: `rsp_${i}` })) as never);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => t.gql('mutation ($i: CreateTokenInput!) { createToken(input: $i) { token { id } } }', { i: { groupId: w.groupB, role: 'VIEWER', name: `race${i}` } })));
    expect(outcomes(results)).toEqual({ made: 2, limited: 38, other: 0 });
    expect(await tokens.countBy({ groupId: w.groupB })).toBe(GROUP_RECORD_LIMITS.liveTokens);
  }, 120_000);
});
