import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRsp } from '../helpers/cli';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { buildWorld, GiB, World } from '../helpers/scenario';

/** Each test runs the CLI several times, a few seconds each on a busy machine. */
const SLOW = 180_000;

/** `rsp share`, `layer`, `offer`, `need` and `alloc` against an in-process gateway. */
describe('rsp sharing and placement commands', () => {
  let db: TestDatabase;
  let t: TestGateway;
  let w: World;
  let dir: string;

  const rsp = (args: string[], token: string | null = t.adminToken) => runRsp(args, { RSP_URL: t.gateway.url, RSP_TOKEN: token ?? undefined, RSP_CLI_CONFIG: join(dir, 'config.json') });
  const json = async (args: string[], token?: string) => {
    const res = await rsp([...args, '--json'], token);
    if (res.code !== 0) throw new Error(`rsp ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
    return JSON.parse(res.stdout);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rsp-cli-sharing-'));
    db = await createTestDatabase('pglite');
    t = await startTestGateway(db);
    w = await buildWorld(t, { declaredTechnologies: true });
  }, SLOW);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('share grant HALF and CUSTOM, list in human units, revoke; a second share on one host is a CONFLICT', async () => {
    const half = await rsp(['share', 'grant', w.host1, w.groupB, '--kind', 'half']);
    expect(half.code).toBe(0);
    // zaphod: (32 − 2) GiB RAM, 1000 GiB disk, 1 Gbit/s over 2 share units, halved.
    expect(half.stdout).toMatch(/^Granted a HALF share \(\S+\) of host \S+ to group \S+: RAM 7\.5 GiB, DISK 250 GiB, NET_BANDWIDTH 250 Mbit\/s, CPU weight 50\n$/);
    const custom = await json(['share', 'grant', w.host2, w.groupB, '--kind', 'CUSTOM', '--quota', 'RAM=4GiB', 'CPU=2', '--cpu-weight', '200']);
    expect(custom).toMatchObject({ hostId: w.host2, groupId: w.groupB, kind: 'CUSTOM', quotas: { RAM: 4 * GiB, CPU: 2 }, cpuWeight: 200 });

    const list = await rsp(['share', 'list', '--group', w.groupB], w.tokens.memberB);
    expect(list.stdout).toMatch(/^ID\s+HOST\s+GROUP\s+KIND\s+CPU WEIGHT\s+QUOTAS\n/);
    const row = list.stdout.split('\n').find((l) => l.includes(custom.id))!;
    expect(row).toMatch(new RegExp(`${w.host2}\\s+${w.groupB}\\s+CUSTOM\\s+200\\s+`));
    expect(row).toContain('RAM 4 GiB');
    expect(row).toContain('CPU 2 cores');

    const again = await rsp(['share', 'grant', w.host1, w.groupB]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^rsp: This group already has a share on this host \[CONFLICT\]\n$/);
    const byMember = await rsp(['share', 'grant', w.host1, w.groupA], w.tokens.memberA);
    expect(byMember.code).toBe(4);
    expect(byMember.stderr).toMatch(/\[FORBIDDEN\]/);
    const badQuota = await rsp(['share', 'grant', w.host1, w.groupA, '--kind', 'CUSTOM', '--quota', 'RAM=lots']);
    expect(badQuota.code).toBe(2);
    expect(badQuota.stderr).toMatch(/--quota: not a size: "lots"/);

    expect((await rsp(['share', 'revoke', custom.id])).stdout).toBe(`Revoked share ${custom.id}\n`);
    expect((await json(['share', 'list', '--host', w.host2])).map((s: { id: string }) => s.id)).not.toContain(custom.id);
  }, SLOW);

  test('share policy set and list; share usage reads the group usage', async () => {
    const set = await rsp(['share', 'policy', 'set', w.site, 'fair use', '--text', 'be kind', '--bandwidth', '500GiB', '--cpu-hours', '100', '--disk', '2TiB']);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/bandwidth\/month:\s+500 GiB/);
    const list = await rsp(['share', 'policy', 'list', w.site], w.tokens.viewerA);
    expect(list.stdout).toMatch(/fair use\s+500 GiB\s+100\s+2 TiB\s+REFUSE\s+be kind/);
    const usage = await json(['share', 'usage'], w.tokens.viewerA);
    expect(Array.isArray(usage)).toBe(true);
    const bad = await rsp(['share', 'policy', 'set', w.site, 'x', '--cpu-hours', '-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cpuHoursPerMonth must be positive \[BAD_USER_INPUT\]/);
  }, SLOW);

  test('layer create on a host, inheritance with a lock, set/unset, show, list; bad kinds are refused', async () => {
    const machine = (await t.ok('query ($id: ID!) { host(id: $id) { layerId } }', { id: w.host1 })).host.layerId as string;
    const os = await json(['layer', 'create', 'OS', 'debian', '--parent', machine, '--set', 'os=debian', '--lock', 'release=12', '--require', 'diskEncryption=true'], w.tokens.memberA);
    expect(os).toMatchObject({ kind: 'OS', groupId: w.groupA, parentId: machine, requirementCheck: { satisfied: true } });
    const created = await rsp(['layer', 'create', 'service', 'web', '--parent', os.id, '--set', 'release=13', '--require', 'release>=12', 'os=debian|alpine'], w.tokens.memberA);
    expect(created.code).toBe(0);
    const web = /\((\S+)\)\n$/.exec(created.stdout)![1]!;
    expect(created.stdout).toBe(`Created SERVICE layer web (${web})\n`);

    const shown = await rsp(['layer', 'show', web], w.tokens.memberA);
    expect(shown.stdout).toMatch(/requirements:\s+release>=12,os in debian\|alpine/);
    expect(shown.stdout).toMatch(/satisfied:\s+yes/);
    // release is locked by the OS layer: the service's 13 does not override it.
    expect(shown.stdout).toMatch(new RegExp(`release\\s+12\\s+yes\\s+${os.id}`));
    expect(shown.stdout).toMatch(/diskEncryption\s+true\s+no\s+\S+/);

    const set = await rsp(['layer', 'set', web, 'tier=front', 'replicas=2'], w.tokens.memberA);
    expect(set.stdout).toMatch(/tier\s+front\s+no\s+this layer/);
    const props = (await json(['layer', 'show', web], w.tokens.memberA)).properties;
    expect(props).toEqual(expect.arrayContaining([{ key: 'release', value: 13, locked: false }, { key: 'tier', value: 'front', locked: false }, { key: 'replicas', value: 2, locked: false }]));
    const unset = await json(['layer', 'unset', web, 'tier'], w.tokens.memberA);
    expect(unset.properties.map((p: { key: string }) => p.key).sort()).toEqual(['release', 'replicas']);
    const unmet = await json(['layer', 'set', web, '--require', 'gpu'], w.tokens.memberA);
    expect(unmet.requirementCheck).toMatchObject({ satisfied: false, unmet: [{ requirement: { key: 'gpu', op: 'EXISTS' }, reason: 'gpu is not set below this layer' }] });

    const list = await rsp(['layer', 'list'], w.tokens.memberA);
    expect(list.stdout).toMatch(new RegExp(`${os.id}\\s+OS\\s+debian\\s+${machine}\\s+os=debian,release=12!\\s+met`));
    expect(list.stdout).toMatch(new RegExp(`${web}\\s+SERVICE\\s+web\\s+${os.id}\\s+.*1 unmet`));

    const machineKind = await rsp(['layer', 'create', 'MACHINE', 'x'], w.tokens.memberA);
    expect(machineKind.code).toBe(2);
    expect(machineKind.stderr).toMatch(/MACHINE layers are made by registering hosts \[BAD_USER_INPUT\]/);
    expect((await rsp(['layer', 'show', web], w.tokens.memberB)).code).toBe(4);
    expect((await rsp(['layer', 'unset', web, 'nope'], w.tokens.memberA)).stderr).toMatch(/has no property nope/);
  }, SLOW);

  test('offer and need publish, list, satisfiable, accept, grant, withdraw', async () => {
    const offer = await rsp(['offer', 'publish', 'RAM', '16GiB', '--terms', 'non-profits only', '--host', w.host1], w.tokens.memberA);
    expect(offer.code).toBe(0);
    const offerId = /Published offer (\S+): RAM 16 GiB\n/.exec(offer.stdout)![1]!;
    const need = await json(['need', 'publish', 'ram', '8GiB', '--technology', 'lxc,docker', '--description', 'a mirror'], w.tokens.memberB);
    expect(need).toMatchObject({ groupId: w.groupB, resourceType: 'RAM', unit: 'BYTES', amount: 8 * GiB, technologies: ['lxc', 'docker'] });
    expect((await rsp(['offer', 'list'], w.tokens.memberB)).stdout).toMatch(new RegExp(`${offerId}\\s+${w.groupA}\\s+RAM\\s+16 GiB\\s+16 GiB\\s+OPEN\\s+${w.host1}\\s+-\\s+non-profits only`));
    expect((await rsp(['need', 'list', '--group', w.groupB], w.tokens.memberA)).stdout).toMatch(/RAM\s+8 GiB\s+8 GiB\s+OPEN\s+lxc,docker\s+a mirror/);
    const satisfiable = await rsp(['need', 'satisfiable'], w.tokens.memberB);
    expect(satisfiable.stdout).toMatch(new RegExp(`${need.id}\\s+${w.groupB}\\s+RAM\\s+8 GiB\\s+16 GiB\\s+${offerId}`));

    // trillian (8 GiB, lxc): an offer there is checked against it, accepted in part, and the need granted the rest.
    const tooMuch = await rsp(['offer', 'publish', 'RAM', '64GiB', '--host', w.host2], w.tokens.memberA);
    expect(tooMuch.code).toBe(2);
    expect(tooMuch.stderr).toBe('rsp: Host trillian has 8 GiB of RAM in all: 64 GiB wanted [BAD_USER_INPUT]\n');
    const small = await json(['offer', 'publish', 'RAM', '2GiB', '--host', w.host2, '--technology', 'lxc'], w.tokens.memberA);
    expect(small).toMatchObject({ remaining: 2 * GiB, status: 'OPEN', technologies: ['lxc'] });
    expect((await rsp(['offer', 'accept', small.id, '--need', need.id], w.tokens.memberB)).code).toBe(4);
    const accepted = await rsp(['offer', 'accept', small.id, '--need', need.id, '--amount', '1GiB']);
    expect(accepted.stdout).toMatch(new RegExp(`^Accepted offer ${small.id}: 1 GiB on host ${w.host2} → share \\S+ of group ${w.groupB} \\(quotas \\{"RAM":${GiB}\\}\\)\noffer ${small.id}: 1 GiB left, OPEN\nneed ${need.id}: 7 GiB still asked, OPEN\n$`));
    expect((await rsp(['need', 'grant', need.id, '--host', w.host2], w.tokens.memberA)).code).toBe(4);
    const granted = await json(['need', 'grant', need.id, '--host', w.host2], w.tokens.adminA);
    expect(granted).toMatchObject({ hostId: w.host2, amount: 7 * GiB, share: { groupId: w.groupB, kind: 'CUSTOM', quotas: { RAM: 8 * GiB } }, offer: { id: small.id, remaining: 0, status: 'CLOSED' }, need: { id: need.id, remaining: 0, status: 'CLOSED' } });
    expect(await json(['need', 'list', '--open'], w.tokens.memberB)).toEqual([]);

    const bad = await rsp(['offer', 'publish', 'RAM', 'plenty'], w.tokens.memberA);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/<amount>: not a size/);
    const notMine = await rsp(['offer', 'withdraw', offerId], w.tokens.memberB);
    expect(notMine.code).toBe(4);
    expect((await rsp(['offer', 'withdraw', offerId], w.tokens.memberA)).stdout).toBe(`Withdrew offer ${offerId}\n`);
    expect((await rsp(['need', 'withdraw', need.id], w.tokens.memberB)).code).toBe(0);
    expect(await json(['need', 'list'], w.tokens.memberB)).toEqual([]);
  }, SLOW);

  test('alloc candidates: ranked hosts and the rejection reasons as tables', async () => {
    const res = await rsp(['alloc', 'candidates', '--cpu', '2', '--technology', 'docker'], w.tokens.memberA);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Candidates \(best first\):\nRANK\s+HOST\s+HOSTNAME\s+SITE\s+TECHNOLOGY\s+SCORE\n1\s+\S+\s+zaphod\s+\S+\s+docker\s+\d+\.\d{3}\n/);
    expect(res.stdout).toMatch(/Rejected:\nHOST\s+HOSTNAME\s+FILTER\s+REASON\n\S+\s+trillian\s+TECHNOLOGY\s+host offers lxc, the request wants docker\n$/);
    const byProperty = await json(['alloc', 'candidates', '--cpu', '2', '--require', 'diskEncryption=true'], w.tokens.memberA);
    expect(byProperty.rejected).toEqual([{ hostId: w.host2, hostname: 'trillian', filter: 'PROPERTIES', reason: 'diskEncryption is false, needs true' }]);
    const nothing = await rsp(['alloc', 'candidates'], w.tokens.memberA);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/say what to allocate/);
  }, SLOW);

  test('alloc request (AUTOMATIC, DIRECT guaranteed), list, show, renew, release; releasing twice is a CONFLICT', async () => {
    const auto = await json(['alloc', 'request', '--cpu', '2', '--memory', '1GiB', '--technology', 'lxc'], w.tokens.memberA);
    expect(auto).toMatchObject({ status: 'PLACED', mode: 'AUTOMATIC', spec: { resources: [{ type: 'CPU', amount: 2, unit: 'CORES' }, { type: 'RAM', amount: GiB, unit: 'BYTES' }] }, allocations: [{ hostId: w.host2, technology: 'lxc', status: 'ACTIVE' }] });
    const shown = await rsp(['alloc', 'show', auto.id], w.tokens.memberA);
    expect(shown.stdout).toMatch(/status:\s+PLACED/);
    expect(shown.stdout).toMatch(/resources:\s+CPU 2 cores, RAM 1 GiB/);
    expect(shown.stdout).toMatch(new RegExp(`Allocations:\\nID.*\\n${auto.allocations[0].id}\\s+${auto.id}\\s+${w.host2}\\s+lxc\\s+ACTIVE`));

    const direct = await json(['alloc', 'request', '--cpu', '1', '--host', w.host1, '--guarantee', 'guaranteed', '--lease', '60'], w.tokens.memberA);
    expect(direct).toMatchObject({ mode: 'DIRECT', guarantee: 'GUARANTEED', allocations: [{ hostId: w.host1, guarantee: 'GUARANTEED', expiresAt: expect.any(String) }] });
    const allocation = direct.allocations[0];
    const renewed = await json(['alloc', 'renew', allocation.id, '--lease', '3600'], w.tokens.memberA);
    expect(new Date(renewed.expiresAt).getTime()).toBeGreaterThan(new Date(allocation.expiresAt).getTime() + 3000_000);
    expect((await rsp(['alloc', 'show', allocation.id], w.tokens.memberA)).stdout).toMatch(/allocation:\s+\S+\nstatus:\s+ACTIVE/);

    const list = await rsp(['alloc', 'list', '--status', 'active'], w.tokens.memberA);
    expect(list.stdout).toMatch(new RegExp(`${allocation.id}\\s+${direct.id}\\s+${w.host1}\\s+\\S+\\s+ACTIVE\\s+GUARANTEED`));
    expect(list.stdout).toMatch(new RegExp(`${auto.allocations[0].id}\\s+${auto.id}\\s+${w.host2}\\s+lxc\\s+ACTIVE\\s+BEST_EFFORT`));

    expect((await rsp(['alloc', 'release', allocation.id], w.tokens.memberA)).stdout).toBe(`Released allocation ${allocation.id} on host ${w.host1}\n`);
    const twice = await rsp(['alloc', 'release', allocation.id], w.tokens.memberA);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/\[CONFLICT\]\n$/);
    await rsp(['alloc', 'release', auto.allocations[0].id], w.tokens.memberA);
    const tooBig = await rsp(['alloc', 'request', '--cpu', '1000'], w.tokens.memberA);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toMatch(/CAPACITY.*\[CONFLICT\]/);
  }, SLOW);

  test('alloc APPROVAL: pending, listed for site admins, approved or rejected by them only', async () => {
    const pending = await json(['alloc', 'request', '--cpu', '1', '--mode', 'approval'], w.tokens.memberA);
    expect(pending).toMatchObject({ status: 'PENDING', allocations: [] });
    expect((await rsp(['alloc', 'requests', '--status', 'PENDING'])).stdout).toMatch(new RegExp(`${pending.id}\\s+${w.groupA}\\s+PENDING\\s+APPROVAL\\s+CPU 1 cores\\s+1`));
    const byMember = await rsp(['alloc', 'approve', pending.id], w.tokens.memberA);
    expect(byMember.code).toBe(4);
    expect(byMember.stderr).toMatch(/\[FORBIDDEN\]/);
    const approved = await rsp(['alloc', 'approve', pending.id, '--host', w.host2, '--reason', 'fits the plan']);
    expect(approved.stdout).toMatch(/status:\s+PLACED/);
    expect(approved.stdout).toMatch(/reason:\s+fits the plan/);
    const other = await json(['alloc', 'request', '--cpu', '1', '--mode', 'APPROVAL'], w.tokens.memberA);
    const rejected = await json(['alloc', 'reject', other.id, '--reason', 'site is full this month']);
    expect(rejected).toMatchObject({ status: 'REJECTED', reason: 'site is full this month', allocations: [] });
    expect((await rsp(['alloc', 'reject', other.id])).code).toBe(2);
    // Shell completion knows the new commands and their subcommands.
    const completion = (await rsp(['completion', 'bash'])).stdout;
    expect(completion).toMatch(/"alloc"\) words="request candidates approve reject renew release list requests show /);
    expect(completion).toMatch(/"share policy"\) words="set list /);
    expect(completion).toMatch(/"top"\) words="--host --env --site --once --timeout --help"/);
  }, SLOW);

  test('alloc request --file places many, one result per item; an item that does not fit fails the command', async () => {
    const file = join(dir, 'requests.json');
    writeFileSync(file, JSON.stringify([{ groupId: w.groupA, resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] }, { groupId: w.groupA, resources: [{ type: 'CPU', amount: 1000, unit: 'CORES' }] }]));
    const res = await rsp(['alloc', 'request', '--file', file], w.tokens.memberA);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^#\s+REQUEST\s+STATUS\s+HOSTS\s+ERROR\n0\s+\S+\s+PLACED\s+\S+\s+-\n1\s+-\s+ERROR\s+-\s+.*\[CONFLICT\]\n$/);
  }, SLOW);
});
