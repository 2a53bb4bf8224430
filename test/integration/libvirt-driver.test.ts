import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runConformanceSuite } from '../../drivers/conformance';
import type { EnvironmentSpec } from '../../drivers/contract';
import { LibvirtDriver } from '../../drivers/libvirt';
import type { LibvirtTechnology } from '../../drivers/libvirt';
import { loadBinding } from '../../drivers/libvirt/binding';
import { describeWithEngine } from '../helpers/engines';
import { buildBusyboxRootfs, importBusyboxImage } from '../fixtures/busybox-rootfs';
import { hypervisorReadableDir, makeBaseImage } from '../helpers/libvirt';

/**
 * The libvirt driver on libvirt's in-process test driver (`test:///default`): the conformance
 * suite for each technology's domain type, and the bad-input and behind-our-back cases. The real
 * hypervisor runs are in libvirt-qemu-guest.test.ts.
 */
const TECHNOLOGIES: LibvirtTechnology[] = ['libvirt-qemu', 'libvirt-kvm', 'libvirt-xen', 'libvirt-lxc'];

describeWithEngine('libvirt', 'libvirt driver on test:///default', () => {
  for (const technology of TECHNOLOGIES) {
    let dataDir: string;
    // An installation of its own (owner); `neighbour`: another installation, with its own data directory, on the same (process-wide) test:///default.
    const make = (failAfter?: 'disk' | 'define', neighbour = false) => async () => {
      const dir = neighbour ? await hypervisorReadableDir('rsp-libvirt-neighbour-') : (dataDir ??= await hypervisorReadableDir('rsp-libvirt-conf-'));
      // test:///default never boots anything: a placeholder kernel is enough for direct boot.
      const kernel = join(dir, 'vmlinuz');
      await writeFile(kernel, 'not a kernel\n');
      const owner = `rspconf-${randomBytes(4).toString('hex')}`;
      const driver = new LibvirtDriver({ uri: 'test:///default', technology, owner, dataDir: join(dir, 'envs'), failAfter, kernel: { path: kernel, cmdline: 'console=ttyS0 root=/dev/vda rw' } });
      const cleanup = async () => {
        await driver.close();
        await rm(dir, { recursive: true, force: true });
      };
      // The conformance image is the busybox root filesystem imported as a qcow2 base (mkfs.ext4 -d).
      return { driver, image: await importBusyboxImage(driver), cleanup };
    };
    runConformanceSuite(`${technology} on test:///default`, make(), {
      timeoutMs: 20_000,
      statsGapMs: 50,
      idPrefix: `conf-${technology.slice(8)}`,
      makeFailingDriver: make('define'),
      makeNeighbour: make(undefined, true),
    });
  }

  describe('bad input, unanswering URIs and domains changed behind RSP\'s back', () => {
    let dir: string;
    let base: string;
    let driver: LibvirtDriver;
    const spec = (id: string, extra: Partial<EnvironmentSpec> = {}): EnvironmentSpec => ({ id, image: { ref: base }, iface: { hostname: id }, ...extra });
    const envDirs = async () => (await readdir(join(dir, 'envs')).catch(() => [] as string[])).filter((n) => n.startsWith('rsp-'));

    beforeAll(async () => {
      dir = await hypervisorReadableDir('rsp-libvirt-edge-');
      base = await makeBaseImage(dir);
      driver = new LibvirtDriver({ uri: 'test:///default', technology: 'libvirt-qemu', dataDir: join(dir, 'envs') });
    });
    afterAll(async () => {
      for (const env of await driver.list()) await driver.destroy(env.id);
      await driver.close();
      await rm(dir, { recursive: true, force: true });
    });

    test('XML metacharacters in labels and config reach libvirt escaped and come back intact', async () => {
      const nasty = `</name><devices><disk type='file'><source file="/etc/shadow"/></disk></devices>&amp;"'<!--`;
      await driver.create(spec('xml-meta', { labels: { note: nasty, [`k<&>"'`]: nasty }, iface: { hostname: 'xml-meta', config: { NOTE: nasty } } }));
      const info = await driver.inspect('xml-meta');
      expect(info.labels.note).toBe(nasty);
      expect(info.labels[`k<&>"'`]).toBe(nasty);
      expect(info.handle).toBe('rsp-xml-meta');
      await driver.destroy('xml-meta');
    });

    test('root filesystem images: refused without a kernel, a non-tar stream is BAD_USER_INPUT, a disk base cannot be exported', async () => {
      const tar = await buildBusyboxRootfs();
      await expect(driver.importImage(createReadStream(tar), { name: 'bb', format: 'rootfs-tar' })).rejects.toMatchObject({ category: 'UNAVAILABLE', message: expect.stringMatching(/no kernel for direct boot/) });
      const kernel = join(dir, 'vmlinuz');
      await writeFile(kernel, 'not a kernel\n');
      const booting = new LibvirtDriver({ uri: 'test:///default', technology: 'libvirt-qemu', dataDir: join(dir, 'boot-envs'), kernel: { path: kernel, cmdline: 'root=/dev/vda' } });
      try {
        await expect(booting.importImage(Readable.from([Buffer.from('not a tar at all')]), { name: 'junk', format: 'rootfs-tar' })).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
        expect((await readdir(join(dir, 'boot-envs', 'images'))).filter((n) => !n.startsWith('.'))).toEqual([]);
        await expect(booting.exportImage({ ref: base })).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
        const image = await booting.importImage(createReadStream(tar), { name: 'bb', format: 'rootfs-tar' });
        expect(image.ref).toMatch(/\/images\/[0-9a-f]{64}\.qcow2$/);
        await expect(driver.create(spec('no-kernel', { image }))).rejects.toMatchObject({ category: 'UNAVAILABLE' });
        const tooLong = { BIG: 'x'.repeat(2100) };
        await expect(booting.create(spec('long-cmdline', { image, iface: { hostname: 'h', config: tooLong } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
        await booting.create(spec('cmdline', { image, iface: { hostname: 'h', config: { NOTE: `a b"c'<&>` } } }));
        const loaded = await loadBinding();
        const xml = loaded.ok ? await (await loaded.binding.open('test:///default')).getXML('rsp-cmdline') : '';
        expect(xml).toContain('root=/dev/vda rsp.hostname=h rsp.config.RSP_HOSTNAME=h rsp.config.NOTE=a%20b%22c%27%3C%26%3E</cmdline>');
        await booting.destroy('cmdline');
      } finally {
        await booting.close();
      }
    });

    test('unsafe names and hostnames are BAD_USER_INPUT before anything is made', async () => {
      for (const id of ['../x', 'a b', "x'y", 'x<y']) {
        await expect(driver.create(spec(id))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      }
      await expect(driver.create(spec('bad-host', { iface: { hostname: 'x</hostname>' } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      await expect(driver.create(spec('bad-bridge', { iface: { hostname: 'h', network: { mode: 'bridge', bridge: "br'0" } } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      expect(await envDirs()).toEqual([]);
    });

    test('a missing or non-disk base image is BAD_USER_INPUT and leaves no directory or domain', async () => {
      await expect(driver.create(spec('no-base', { image: { ref: join(dir, 'missing.qcow2') } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      await expect(driver.create(spec('rel-base', { image: { ref: 'base.qcow2' } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      await expect(driver.create(spec('small-disk', { limits: { diskBytes: 1024 * 1024 } }))).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
      expect(await envDirs()).toEqual([]);
      expect((await driver.list()).map((e) => e.id)).not.toEqual(expect.arrayContaining(['no-base', 'rel-base', 'small-disk']));
    });

    test('blkioWeight: cpuWeight also becomes a block I/O weight when asked', async () => {
      const withBlkio = new LibvirtDriver({ uri: 'test:///default', technology: 'libvirt-kvm', dataDir: join(dir, 'envs'), blkioWeight: true });
      await withBlkio.create(spec('blkio', { limits: { cpuWeight: 50 } }));
      const loaded = await loadBinding();
      if (!loaded.ok) throw new Error(loaded.reason);
      const other = await loaded.binding.open('test:///default');
      expect(await other.getXML('rsp-blkio')).toMatch(/<blkiotune>\s*<weight>250<\/weight>/);
      await other.close();
      await withBlkio.destroy('blkio');
      await withBlkio.close();
    });

    test('a command on a VM type is UNSUPPORTED_OPERATION', async () => {
      await expect(driver.create(spec('with-cmd', { command: ['/bin/sh'] }))).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    });

    test('the overlay is backed by the base, which stays read-only and unchanged', async () => {
      await driver.create(spec('overlay', { limits: { diskBytes: 64 * 1024 * 1024 } }));
      const { execFileSync } = await import('node:child_process');
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, 'envs', 'rsp-overlay', 'root.qcow2')], { encoding: 'utf8' })) as Record<string, unknown>;
      expect(info['backing-filename']).toBe(base);
      expect(info['virtual-size']).toBe(64 * 1024 * 1024);
      expect((await driver.inspect('overlay')).limits.diskBytes).toBe(64 * 1024 * 1024);
      await driver.destroy('overlay');
      expect(existsSync(join(dir, 'envs', 'rsp-overlay'))).toBe(false);
    });

    test('a domain undefined behind RSP\'s back: NOT_FOUND, and destroy removes what is left', async () => {
      await driver.create(spec('behind'));
      const loaded = await loadBinding();
      if (!loaded.ok) throw new Error(loaded.reason);
      const other = await loaded.binding.open('test:///default'); // the same in-process test driver
      await other.undefine('rsp-behind');
      await other.close();
      await expect(driver.inspect('behind')).rejects.toMatchObject({ category: 'NOT_FOUND' });
      await expect(driver.start('behind')).rejects.toMatchObject({ category: 'NOT_FOUND' });
      expect((await driver.list()).some((e) => e.id === 'behind')).toBe(false);
      expect(existsSync(join(dir, 'envs', 'rsp-behind'))).toBe(true);
      await driver.destroy('behind');
      expect(existsSync(join(dir, 'envs', 'rsp-behind'))).toBe(false);
      await driver.create(spec('behind')); // the id is free again
      await driver.destroy('behind');
    });

    test('a domain stopped behind RSP\'s back is reported stopped; a foreign rsp-* domain is not listed or touched', async () => {
      await driver.create(spec('stopped-behind'));
      await driver.start('stopped-behind');
      const loaded = await loadBinding();
      if (!loaded.ok) throw new Error(loaded.reason);
      const other = await loaded.binding.open('test:///default');
      await other.destroy('rsp-stopped-behind');
      expect((await driver.inspect('stopped-behind')).state).toBe('stopped');
      await other.defineXML("<domain type='test'><name>rsp-foreign</name><memory>65536</memory><os><type>hvm</type></os></domain>");
      expect((await driver.list()).some((e) => e.id === 'foreign')).toBe(false);
      await expect(driver.inspect('foreign')).rejects.toMatchObject({ category: 'NOT_FOUND' });
      await driver.destroy('foreign');
      expect(await other.listDomainNames()).toContain('rsp-foreign');
      await other.undefine('rsp-foreign');
      await other.close();
      await driver.destroy('stopped-behind');
    });

    test('a URI that does not answer: probe says why, calls are UNAVAILABLE, nothing is made', async () => {
      const dead = new LibvirtDriver({ uri: 'qemu+unix:///system?socket=/nonexistent/libvirt-sock', technology: 'libvirt-qemu', dataDir: join(dir, 'dead') });
      const found = await dead.probe();
      expect(found.available).toBe(false);
      expect(found.reason).toMatch(/nonexistent/);
      await expect(dead.create(spec('dead-env'))).rejects.toMatchObject({ category: 'UNAVAILABLE' });
      await expect(dead.list()).rejects.toMatchObject({ category: 'UNAVAILABLE' });
      expect(existsSync(join(dir, 'dead', 'rsp-dead-env'))).toBe(false);
    });

    test('a missing native binding: probe() says why, import never crashed', async () => {
      const missing = new LibvirtDriver({ uri: 'test:///default', dataDir: join(dir, 'nobinding'), loadBinding: async () => ({ ok: false, reason: 'cannot load @unraid/libvirt: not installed' }) });
      expect(await missing.probe()).toEqual({ available: false, reason: 'cannot load @unraid/libvirt: not installed' });
      await expect(missing.inspect('x')).rejects.toMatchObject({ category: 'UNAVAILABLE' });
    });

    test('the real binding loads through a dynamic import() of the ESM package', async () => {
      const loaded = await loadBinding();
      expect(loaded).toMatchObject({ ok: true });
      if (loaded.ok) expect(loaded.binding.description).toMatch(/^@unraid\/libvirt \d/);
    });
  });
});
