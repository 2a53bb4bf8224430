import { appendFile, mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileLog, tailLines } from '../../../drivers/host/log-read';

/** Console log files read from a cursor (LXC's console log, libvirt's serial log). */
describe('readFileLog', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'rsp-file-log-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('reads on from the cursor; a file replaced or cut shorter is read from its start', async () => {
    const path = join(dir, 'console.log');
    expect(await readFileLog(path, undefined, 'e', 'test')).toEqual({ text: '', cursor: '0:0' });
    await writeFile(path, 'one\ntwo\n');
    const first = await readFileLog(path, undefined, 'e', 'test');
    expect(first.text).toBe('one\ntwo\n');
    await appendFile(path, 'three\n');
    const second = await readFileLog(path, { cursor: first.cursor }, 'e', 'test');
    expect(second.text).toBe('three\n');
    expect((await readFileLog(path, { cursor: second.cursor }, 'e', 'test')).text).toBe('');
    await writeFile(join(dir, 'new'), 'fresh\n');
    await rename(join(dir, 'new'), path);
    expect((await readFileLog(path, { cursor: second.cursor }, 'e', 'test')).text).toBe('fresh\n');
    expect((await readFileLog(path, { tail: 1 }, 'e', 'test')).text).toBe('fresh\n');
  });

  test('since without a cursor is UNSUPPORTED_OPERATION, a bad cursor or tail BAD_USER_INPUT', async () => {
    const path = join(dir, 'console.log');
    await writeFile(path, 'x\n');
    await expect(readFileLog(path, { since: new Date() }, 'e', 'test')).rejects.toMatchObject({ category: 'UNSUPPORTED_OPERATION' });
    await expect(readFileLog(path, { cursor: '../etc' }, 'e', 'test')).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
    await expect(readFileLog(path, { tail: 1.5 }, 'e', 'test')).rejects.toMatchObject({ category: 'BAD_USER_INPUT' });
  });

  test('tailLines keeps the last lines and the final newline', () => {
    expect(tailLines('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(tailLines('a\nb\nc', 2)).toBe('b\nc');
    expect(tailLines('a\n', 0)).toBe('');
    expect(tailLines('', 3)).toBe('');
  });
});
