import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreVolumes, volumePackArgs } from '../../../drivers/host/volumes';

/** Volumes in LXC/vserver exports: packed as volumes/<name>/ by GNU tar, restored by name. */
test('a volume with regex and delimiter characters in its path round-trips; symlink targets are left alone', async () => {
  const base = mkdtempSync(join(tmpdir(), 'rsp-export-volumes-'));
  try {
    const volume = join(base, 'a+(b),c.d*[x]');
    mkdirSync(volume);
    writeFileSync(join(volume, 'f'), 'hello');
    symlinkSync(join(volume, 'f'), join(volume, 'link'));
    const archive = join(base, 'out.tar');
    execFileSync('tar', ['-c', '-f', archive, ...volumePackArgs([{ name: 'data', kind: 'data', hostPath: volume, mountPath: '/data' }])]);
    expect(execFileSync('tar', ['-t', '-f', archive], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(['volumes/data/', 'volumes/data/f', 'volumes/data/link']);
    const staging = join(base, 'staging');
    const target = join(base, 'target');
    mkdirSync(staging);
    mkdirSync(target);
    execFileSync('tar', ['-x', '-f', archive, '-C', staging]);
    await restoreVolumes(staging, [{ name: 'data', kind: 'data', hostPath: target, mountPath: '/data' }, { name: 'absent', kind: 'data', hostPath: join(base, 'nowhere'), mountPath: '/x' }]);
    expect(readFileSync(join(target, 'f'), 'utf8')).toBe('hello');
    expect(readlinkSync(join(target, 'link'))).toBe(join(volume, 'f'));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
