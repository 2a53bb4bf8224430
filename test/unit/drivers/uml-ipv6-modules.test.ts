import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasIpv6Module, ipv6ModuleFiles } from '../../../plugins/uml/src/ipv6-modules';

/** The UML plugin finds its kernel's ipv6 module and what it needs (modules.dep), in load order. */
describe('UML ipv6 module', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rsp-uml-modules-'));
    await mkdir(join(dir, '6.1.1', 'kernel', 'net', 'ipv6'), { recursive: true });
    await writeFile(join(dir, '6.1.1', 'kernel', 'net', 'ipv6', 'ipv6.ko'), '');
    await writeFile(join(dir, '6.1.1', 'modules.dep'), 'kernel/net/ipv6/netfilter/x.ko: kernel/net/ipv6/ipv6.ko\nkernel/net/ipv6/ipv6.ko: kernel/lib/b.ko kernel/lib/a.ko\n');
    await mkdir(join(dir, '6.1.2'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('the dependencies first (modules.dep lists them last-needed first), then ipv6.ko; none for a release without it', async () => {
    expect(hasIpv6Module(dir)).toBe(true);
    expect(hasIpv6Module(join(dir, 'missing'))).toBe(false);
    expect(await ipv6ModuleFiles('6.1.1', dir)).toEqual(['kernel/lib/a.ko', 'kernel/lib/b.ko', 'kernel/net/ipv6/ipv6.ko'].map((m) => join(dir, '6.1.1', m)));
    expect(await ipv6ModuleFiles('6.1.2', dir)).toBeUndefined();
  });
});
