import { mkdtempSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupKeys } from '../../../gateway/replication/group-keys';

describe('group keys', () => {
  test('derived per group from a 0600 gateway secret, stable across instances, different per group and per secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rsp-keys-'));
    const file = join(dir, 'secrets', 'replica-group-keys.secret');
    const keys = new GroupKeys(file);
    const a = await keys.keyFor('group-a');
    expect(a).toHaveLength(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(file)).size).toBe(32);
    expect(await new GroupKeys(file).keyFor('group-a')).toEqual(a);
    expect(await keys.keyFor('group-b')).not.toEqual(a);
    const other = new GroupKeys(join(mkdtempSync(join(tmpdir(), 'rsp-keys-')), 's'));
    expect(await other.keyFor('group-a')).not.toEqual(a);
  });
});
