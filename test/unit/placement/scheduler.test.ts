import { AllocationSpec, AntiAffinity, HostState, PlacementPolicy, UsagePolicyMode } from '../../../gateway/persistence/entities';
import type { UsageBreach } from '../../../gateway/metrics/usage-breaches';
import { antiAffinityFilter, capacityFilter, FILTERS, passes, passesAll, hostStateFilter, propertiesFilter, quotaFilter, technologyFilter, usagePolicyFilter } from '../../../gateway/placement/filters';
import { freeFor, HostView, PlacementAsk, ResourceView } from '../../../gateway/placement/model';
import { evaluateHosts, placeReplicas, SCAN_BUDGET } from '../../../gateway/placement/scheduler';
import { fitScore, scoreHost, TECHNOLOGY_WEIGHT } from '../../../gateway/placement/scoring';

const OWNER = 'owner-group';
const GUEST = 'guest-group';

function resource(type: string, total: number, extra: Partial<ResourceView> = {}): ResourceView {
  return { id: `${type}-${Math.random()}`, type, unit: type === 'CPU' ? 'CORES' : 'BYTES', total, reserved: 0, allocationRatio: 1, minUnit: 1, maxUnit: null, stepSize: 1, used: 0, guaranteedUsed: 0, usedByGroup: new Map(), generation: 1, ...extra };
}

function host(name: string, extra: Partial<HostView> = {}, resources: ResourceView[] = [resource('CPU', 8), resource('RAM', 64)]): HostView {
  return { id: name, hostname: name, siteId: 'site-1', sitePolicy: PlacementPolicy.BINPACK, state: HostState.UP, drivers: ['docker', 'lxc'], ownerGroupId: OWNER, resources: new Map(resources.map((r) => [r.type, r])), properties: [], quotas: new Map(), policyBreaches: new Map(), ...extra };
}

/** A REFUSE usage policy the group is over: 12 CPU hours used of 10. */
function breach(groupId: string): UsageBreach {
  return { policyId: 'p1', policy: 'fair use', siteId: 'site-1', siteName: 'lab', groupId, mode: UsagePolicyMode.REFUSE, metric: 'cpuHoursPerMonth', used: 12, limit: 10 };
}

function ask(spec: Partial<AllocationSpec> = {}, extra: Partial<PlacementAsk> = {}): PlacementAsk {
  return { spec: { resources: [{ type: 'CPU', amount: 2, unit: 'CORES' }], technologies: [], requiredProperties: [], antiAffinity: AntiAffinity.NONE, replicas: 1, hostIds: [], ...spec }, groupId: OWNER, guaranteed: false, ...extra };
}

const noneChosen = { chosenHostIds: new Set<string>(), chosenSiteIds: new Set<string>() };

describe('placement filters', () => {
  test('HOST_STATE: only UP hosts', () => {
    expect(hostStateFilter.reject(host('a'), ask(), noneChosen)).toBeNull();
    expect(hostStateFilter.reject(host('a', { state: HostState.MAINTENANCE }), ask(), noneChosen)).toBe('host is MAINTENANCE, not UP');
  });

  test('USAGE_POLICY: a group over a REFUSE policy of the site is rejected, naming the policy and the site; others pass', () => {
    const h = host('a', { policyBreaches: new Map([[OWNER, breach(OWNER)]]) });
    expect(usagePolicyFilter.reject(h, ask({}, { groupId: OWNER }), noneChosen)).toBe('usage policy "fair use" of site lab: the group used 12 CPU hours this month, over the 10 allowed: new work of the group in this site is refused');
    expect(usagePolicyFilter.reject(h, ask({}, { groupId: GUEST }), noneChosen)).toBeNull();
    const { rejections, candidates } = evaluateHosts([h, host('b')], ask({}, { groupId: OWNER }));
    expect(rejections).toEqual([expect.objectContaining({ filter: 'USAGE_POLICY' })]);
    expect(candidates.map((c) => c.host.hostname)).toEqual(['b']);
  });

  test('TECHNOLOGY: one of the wanted ones, or any when none is wanted', () => {
    expect(technologyFilter.reject(host('a'), ask({ technologies: ['kvm', 'lxc'] }), noneChosen)).toBeNull();
    expect(technologyFilter.reject(host('a'), ask(), noneChosen)).toBeNull();
    expect(technologyFilter.reject(host('a'), ask({ technologies: ['kvm'] }), noneChosen)).toBe('host offers docker, lxc, the request wants kvm');
  });

  test('CAPACITY: free capacity under allocationRatio, units, min/max/step', () => {
    const h = host('a', {}, [resource('CPU', 4, { allocationRatio: 2, used: 6, minUnit: 0.5, maxUnit: 4, stepSize: 0.5 })]);
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 2, unit: 'CORES' }] }), noneChosen)).toBeNull();
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 2.5, unit: 'CORES' }] }), noneChosen)).toBe('CPU: 2.5 wanted, 2 free (allocation ratio 2)');
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 0.25, unit: 'CORES' }] }), noneChosen)).toMatch(/below the minimum unit 0.5/);
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 0.75, unit: 'CORES' }] }), noneChosen)).toMatch(/not a multiple of the step 0.5/);
    expect(capacityFilter.reject(host('b', {}, [resource('CPU', 64, { maxUnit: 4 })]), ask({ resources: [{ type: 'CPU', amount: 5, unit: 'CORES' }] }), noneChosen)).toMatch(/above the maximum unit 4/);
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 1, unit: 'MHZ' }] }), noneChosen)).toMatch(/measured in CORES here, not MHZ/);
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'GPU', amount: 1, unit: 'COUNT' }] }), noneChosen)).toBe('host has no GPU resource');
  });

  test('CAPACITY: best effort overbooks up to the ratio, guaranteed never overbooks', () => {
    const cpu = resource('CPU', 4, { allocationRatio: 4, used: 4, guaranteedUsed: 3 });
    expect(freeFor(cpu, false)).toBe(12);
    expect(freeFor(cpu, true)).toBe(1);
    const h = host('a', {}, [cpu]);
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 10, unit: 'CORES' }] }), noneChosen)).toBeNull();
    expect(capacityFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 2, unit: 'CORES' }] }, { guaranteed: true }), noneChosen)).toBe('CPU: 2 wanted, 1 free for guaranteed use (no overbooking)');
  });

  test('QUOTA: the share of the group on the host; owners need none', () => {
    const cpu = resource('CPU', 16);
    cpu.usedByGroup.set(GUEST, 3);
    const h = host('a', { quotas: new Map([[GUEST, { CPU: 4 }]]) }, [cpu]);
    expect(quotaFilter.reject(h, ask({}, { groupId: OWNER }), noneChosen)).toBeNull();
    expect(quotaFilter.reject(h, ask({ resources: [{ type: 'CPU', amount: 1, unit: 'CORES' }] }, { groupId: GUEST }), noneChosen)).toBeNull();
    expect(quotaFilter.reject(h, ask({}, { groupId: GUEST }), noneChosen)).toBe("CPU: the group's share allows 4, 3 already used, 2 wanted");
    expect(quotaFilter.reject(h, ask({}, { groupId: 'stranger' }), noneChosen)).toBe('the group has no share on this host');
  });

  test('PROPERTIES: required effective properties of the machine layer', () => {
    const h = host('a', { properties: [{ key: 'diskEncryption', value: true, locked: false, fromLayerId: 'l' }, { key: 'ramGiB', value: 64, locked: false, fromLayerId: 'l' }] });
    expect(propertiesFilter.reject(h, ask({ requiredProperties: [{ key: 'diskEncryption', op: 'EQ', values: [true] }, { key: 'ramGiB', op: 'GTE', values: [32] }] }), noneChosen)).toBeNull();
    expect(propertiesFilter.reject(h, ask({ requiredProperties: [{ key: 'ramGiB', op: 'GTE', values: [128] }] }), noneChosen)).toBe('ramGiB is 64, needs ≥ 128');
    expect(propertiesFilter.reject(h, ask({ requiredProperties: [{ key: 'gpu', op: 'EXISTS', values: [] }] }), noneChosen)).toBe('gpu is not set below this layer');
  });

  test('ANTI_AFFINITY: no two replicas on one host, or in one site', () => {
    const ctx = { chosenHostIds: new Set(['a']), chosenSiteIds: new Set(['site-1']) };
    expect(antiAffinityFilter.reject(host('a'), ask({ antiAffinity: AntiAffinity.HOST }), ctx)).toBe('another replica of this request is on this host');
    expect(antiAffinityFilter.reject(host('b'), ask({ antiAffinity: AntiAffinity.HOST }), ctx)).toBeNull();
    expect(antiAffinityFilter.reject(host('b'), ask({ antiAffinity: AntiAffinity.SITE }), ctx)).toBe('another replica of this request is in this site');
    expect(antiAffinityFilter.reject(host('a'), ask({ antiAffinity: AntiAffinity.NONE }), ctx)).toBeNull();
  });
});

test("each filter's fast path agrees with its explanation", () => {
  const cpu = resource('CPU', 4, { allocationRatio: 2, used: 5, minUnit: 0.5, maxUnit: 4, stepSize: 0.5 });
  cpu.usedByGroup.set(GUEST, 1);
  const hosts = [host('a', { quotas: new Map([[GUEST, { CPU: 2 }]]) }, [cpu]), host('b', { drivers: ['kvm'] }), host('c', { state: HostState.DOWN }), host('d', { policyBreaches: new Map([[GUEST, breach(GUEST)]]) })];
  const asks = [0.25, 0.5, 0.75, 1, 1.5, 3, 5].flatMap((amount) => [OWNER, GUEST, 'stranger'].flatMap((groupId) => [[], ['docker'], ['kvm']].map((technologies) => ask({ resources: [{ type: 'CPU', amount, unit: 'CORES' }], technologies }, { groupId }))));
  for (const f of FILTERS) for (const h of hosts) for (const a of asks) expect([f.name, h.hostname, passes(f, h, a, noneChosen)]).toEqual([f.name, h.hostname, f.reject(h, a, noneChosen) === null]);
});

describe('placement scoring', () => {
  const emptyish = () => host('empty', {}, [resource('CPU', 8, { used: 1 })]);
  const fullish = () => host('full', {}, [resource('CPU', 8, { used: 5 })]);

  test('BINPACK prefers the fuller host, SPREAD the emptier one', () => {
    expect(fitScore(PlacementPolicy.BINPACK, 0.75)).toBe(0.75);
    expect(fitScore(PlacementPolicy.SPREAD, 0.75)).toBe(0.25);
    const binpack = evaluateHosts([emptyish(), fullish()], ask());
    expect(binpack.candidates.map((c) => c.host.hostname)).toEqual(['full', 'empty']);
    expect(binpack.candidates[0]!.score).toBeCloseTo(TECHNOLOGY_WEIGHT + 7 / 8);
    const spread = evaluateHosts([emptyish(), fullish()].map((h) => ({ ...h, sitePolicy: PlacementPolicy.SPREAD })), ask());
    expect(spread.candidates.map((c) => c.host.hostname)).toEqual(['empty', 'full']);
    expect(spread.candidates[0]!.score).toBeCloseTo(TECHNOLOGY_WEIGHT + 5 / 8);
  });

  test('the technology preference order outweighs the fit', () => {
    const lxcOnly = host('lxc-host', { drivers: ['lxc'] }, [resource('CPU', 8, { used: 6 })]);
    const dockerOnly = host('docker-host', { drivers: ['docker'] }, [resource('CPU', 8)]);
    const ranked = evaluateHosts([lxcOnly, dockerOnly], ask({ technologies: ['docker', 'lxc'] }));
    expect(ranked.candidates.map((c) => [c.host.hostname, c.technology])).toEqual([['docker-host', 'docker'], ['lxc-host', 'lxc']]);
    expect(scoreHost(lxcOnly, ask({ technologies: ['docker', 'lxc'] })).score).toBeCloseTo(TECHNOLOGY_WEIGHT * 0.5 + 1);
  });
});

describe('scheduler', () => {
  test('a dry run ranks feasible hosts and names the filter that rejected each other one', () => {
    const result = evaluateHosts([host('ok'), host('down', { state: HostState.DOWN }), host('kvm', { drivers: ['kvm'] }), host('small', {}, [resource('CPU', 1)])], ask({ technologies: ['docker'] }));
    expect(result.candidates.map((c) => c.host.hostname)).toEqual(['ok']);
    expect(result.rejections.map((r) => [r.host.hostname, r.filter])).toEqual([['down', 'HOST_STATE'], ['kvm', 'TECHNOLOGY'], ['small', 'CAPACITY']]);
  });

  test('replicas are spread by anti-affinity and charged to the views; undo gives it back', () => {
    const hosts = [host('a', { siteId: 's1' }), host('b', { siteId: 's1' }), host('c', { siteId: 's2' })];
    const bySite = placeReplicas(hosts, ask({ replicas: 2, antiAffinity: AntiAffinity.SITE }));
    expect(bySite.placed!.map((p) => p.host.siteId).sort()).toEqual(['s1', 's2']);
    expect(hosts.reduce((sum, h) => sum + h.resources.get('CPU')!.used, 0)).toBe(4);
    if (bySite.placed) bySite.undo();
    expect(hosts.every((h) => h.resources.get('CPU')!.used === 0)).toBe(true);
    const tooMany = placeReplicas(hosts, ask({ replicas: 3, antiAffinity: AntiAffinity.SITE }));
    expect(tooMany.placed).toBeNull();
    if (!tooMany.placed) {
      expect(tooMany.failedReplica).toBe(2);
      expect(tooMany.evaluation.rejections.every((r) => r.filter === 'ANTI_AFFINITY')).toBe(true);
    }
    expect(hosts.every((h) => h.resources.get('CPU')!.used === 0)).toBe(true);
  });

  test('a round scans from its cursor, wrapping around, stops after `limit` feasible hosts, and moves the cursor past full ones', () => {
    // Equal hosts but h3 full: with limit 1 the first feasible host at or after the cursor wins.
    const hosts = ['h0', 'h1', 'h2', 'h3'].map((n) => host(n, {}, [resource('CPU', 8, n === 'h3' ? { used: 8 } : {})]));
    const pick = (at: number) => {
      const cursor = { at };
      const outcome = placeReplicas(hosts, ask(), { cursor, limit: 1 });
      if (!outcome.placed) throw new Error('expected a host');
      const chosen = outcome.placed[0]!.host.hostname;
      outcome.undo();
      return [chosen, cursor.at];
    };
    expect([pick(1), pick(2), pick(3), pick(4)]).toEqual([['h1', 1], ['h2', 2], ['h0', 0], ['h0', 0]]);
    // Without a limit every host is scored, wherever the cursor is: the best (ties by name) wins.
    expect(placeReplicas(hosts, ask(), { cursor: { at: 2 }, limit: 0 }).placed![0]!.host.hostname).toBe('h0');
  });

  test('a limited scan takes the best host found within SCAN_BUDGET hosts past the first feasible one', () => {
    // Every host full but two: one early, one (fuller, so better under BINPACK) just past the budget.
    const far = 5 + SCAN_BUDGET + 10;
    const hosts = Array.from({ length: far + 20 }, (_, i) => host(`h${String(i).padStart(4, '0')}`, {}, [resource('CPU', 8, { used: i === 5 ? 0 : i === far ? 4 : 8 })]));
    const chosen = (limit: number) => {
      const outcome = placeReplicas(hosts, ask(), { cursor: { at: 0 }, limit });
      if (!outcome.placed) throw new Error('expected a host');
      const name = outcome.placed[0]!.host.hostname;
      outcome.undo();
      return name;
    };
    expect(chosen(16)).toBe('h0005');
    // Unlimited, every host is scored: the better one wins.
    expect(chosen(0)).toBe(`h${String(far).padStart(4, '0')}`);
  });

  test('pinned hosts (DIRECT) are still validated', () => {
    const small = host('small', {}, [resource('CPU', 1)]);
    const outcome = placeReplicas([small, host('big')], ask(), { pinned: [small] });
    expect(outcome.placed).toBeNull();
    if (!outcome.placed) expect(outcome.evaluation.rejections[0]).toMatchObject({ filter: 'CAPACITY' });
  });
});

describe('the fused feasibility check', () => {
  test('passesAll agrees with every filter run one by one, over many random hosts and requests', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    let agreed = 0;
    let passed = 0;
    for (let i = 0; i < 20000; i++) {
      const cpu = resource('CPU', pick([2, 4, 8]), { allocationRatio: pick([1, 2, 4]), used: pick([0, 2, 6, 12]), guaranteedUsed: pick([0, 1, 3]), stepSize: pick([1, 1, 0.5]), minUnit: pick([1, 0.5]), maxUnit: pick([null, 4]), unit: pick(['CORES', 'CORES', 'MHZ']) });
      cpu.usedByGroup.set(GUEST, pick([0, 1, 3]));
      const ram = resource('RAM', pick([8, 64]), { used: pick([0, 8, 60]) });
      const h = host(`h${i}`, {
        state: pick([HostState.UP, HostState.UP, HostState.MAINTENANCE]),
        drivers: pick([['docker'], ['lxc'], ['docker', 'lxc'], []]),
        siteId: pick(['s1', 's2']),
        ownerGroupId: pick([OWNER, 'third-group']),
        quotas: pick([new Map(), new Map([[GUEST, { CPU: pick([2, 4, 16]) }]]), new Map([[OWNER, { CPU: 4, RAM: 16 }]])]),
        properties: pick([[], [{ key: 'gpu', value: true, locked: false, fromLayerId: 'l' }]]),
        policyBreaches: rnd() < 0.1 ? pick([new Map([[GUEST, breach(GUEST)]]), new Map([[OWNER, breach(OWNER)]])]) : new Map(),
      } as Partial<HostView>, pick([[cpu, ram], [cpu], [ram]]));
      const a = ask(
        {
          resources: pick([[{ type: 'CPU', amount: pick([1, 2, 0.5, 0.75, 5]), unit: 'CORES' }], [{ type: 'CPU', amount: 1, unit: 'CORES' }, { type: 'RAM', amount: pick([4, 16]), unit: 'BYTES' }], [{ type: 'GPU', amount: 1, unit: 'COUNT' }]]),
          technologies: pick([[], ['docker'], ['kvm', 'lxc']]),
          antiAffinity: pick([AntiAffinity.NONE, AntiAffinity.HOST, AntiAffinity.SITE]),
          requiredProperties: pick([[], [{ key: 'gpu', op: 'EQ', values: [true] }]]),
        },
        { groupId: pick([OWNER, GUEST]), guaranteed: rnd() < 0.3 },
      );
      const ctx = { chosenHostIds: new Set(rnd() < 0.3 ? [h.id] : []), chosenSiteIds: new Set(rnd() < 0.3 ? ['s1'] : []) };
      const oneByOne = FILTERS.every((f) => f.reject(h, a, ctx) === null);
      if (passesAll(h, a, ctx) === oneByOne) agreed++;
      if (oneByOne) passed++;
    }
    expect(agreed).toBe(20000);
    // Both outcomes are well represented.
    expect(passed).toBeGreaterThan(200);
    expect(passed).toBeLessThan(19800);
  });
});
