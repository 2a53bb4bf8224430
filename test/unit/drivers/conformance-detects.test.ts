import { Readable } from 'node:stream';
import { runConformanceSuite, type TestApi } from '../../../drivers/conformance';
import type { CallOptions, Driver, EnvironmentInfo, EnvironmentSpec, StopOptions } from '../../../drivers/contract';
import { createRootfsTar, FakeDriver } from '../../../drivers/fake';
import { ConflictError } from '../../../gateway/errors/rsp-error';

/** Runs a conformance suite outside jest's own registry, returning each test's outcome. */
async function runCollected(register: (api: TestApi) => void): Promise<Record<string, string>> {
  const tests: Array<{ name: string; body: () => Promise<void> }> = [];
  const before: Array<() => Promise<void>> = [];
  const after: Array<() => Promise<void>> = [];
  register({
    describe: (_name, body) => body(),
    test: (name, body) => void tests.push({ name, body }),
    beforeAll: (body) => void before.push(body),
    afterAll: (body) => void after.push(body),
  });
  const outcome: Record<string, string> = {};
  for (const body of before) await body();
  for (const t of tests) {
    try {
      await t.body();
      outcome[t.name] = 'pass';
    } catch (e) {
      outcome[t.name] = (e as Error).message;
    }
  }
  for (const body of after) await body();
  return outcome;
}

const importRootfs = async (driver: Driver) => {
  const imported = await driver.importImage!(Readable.from([createRootfsTar({ 'etc/os-release': 'x\n' })]), { name: 'base', format: 'rootfs-tar' });
  return { ref: imported.ref };
};

/** Breaks four rules: stop is not idempotent, list shows a foreign object, snapshot is advertised but absent, the managed network's IPv4 address is ignored. */
class SloppyDriver extends FakeDriver {
  override async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    return super.create({ ...spec, iface: { ...spec.iface, ...(spec.iface.network ? { network: { mode: spec.iface.network.mode, ipv6: spec.iface.network.ipv6 } } : {}) } }, options);
  }

  override async stop(id: string, options?: StopOptions): Promise<void> {
    if ((await this.inspect(id)).state !== 'running') throw new ConflictError(`${id} is already stopped`);
    return super.stop(id, options);
  }

  override async list(options?: CallOptions): Promise<EnvironmentInfo[]> {
    return [...(await super.list(options)), { id: 'not-ours', handle: 'x', state: 'running', image: { ref: 'x' }, addresses: [], limits: {}, labels: {} }];
  }
}
Object.defineProperty(SloppyDriver.prototype, 'snapshot', { value: undefined });

/** Creates, then fails: what it created stays behind. */
class LeakyDriver extends FakeDriver {
  override async create(spec: EnvironmentSpec, options?: CallOptions): Promise<EnvironmentInfo> {
    await super.create(spec, options);
    throw new Error('failed after creating');
  }
}

describe('the conformance suite finds non-conforming drivers', () => {
  test('each broken rule fails its test, the others pass, and every environment is destroyed afterwards', async () => {
    const sloppy = new SloppyDriver();
    const leaky = new LeakyDriver();
    const outcome = await runCollected((testApi) =>
      runConformanceSuite('sloppy', async () => ({ driver: sloppy, image: importRootfs }), {
        testApi,
        statsGapMs: 10,
        makeFailingDriver: async () => ({ driver: leaky, image: importRootfs }),
      }),
    );
    const failed = Object.entries(outcome).filter(([, result]) => result !== 'pass');
    expect(Object.fromEntries(failed)).toEqual({
      'stop is idempotent: stopping a created or stopped environment is not an error': expect.stringMatching(/already stopped/),
      'list() returns only RSP-labelled environments, ours among them': expect.stringMatching(/not-ours, which is not labelled as RSP's/),
      'optional snapshot: present when advertised, UNSUPPORTED_OPERATION through requireCapability when not': expect.stringMatching(/snapshot is advertised but not implemented/),
      'snapshots: create, list, roll back (what was written since is gone), delete (when advertised)': expect.stringMatching(/does not support snapshot/),
      'exportSnapshot → importEnvironment: what the snapshot holds, not what was written since (when advertised)': expect.stringMatching(/does not support snapshot/),
      'a failed create leaves nothing behind (when fault injection is given)': expect.stringMatching(/inspect of .* after its failed create succeeded, expected NOT_FOUND/),
      'managedNetwork: the environment has exactly the address its spec names': expect.stringMatching(/inspect reports addresses \["10\.88\./),
    });
    expect(Object.keys(outcome).length - failed.length).toBeGreaterThan(20);
    expect(sloppy.held().environments).toBe(0);
    expect(leaky.held().environments).toBe(0);
  });
});
