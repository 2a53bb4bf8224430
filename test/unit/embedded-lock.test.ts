import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../../gateway/errors';
import { EMBEDDED_LOCK_FILE, lockEmbeddedDatabase } from '../../gateway/persistence/embedded-lock';

/** The embedded database's open mark: who holds it, and when a mark is stale. */
describe('lockEmbeddedDatabase', () => {
  let dir: string;
  let other: ChildProcess;
  const mark = () => join(dir, EMBEDDED_LOCK_FILE);
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const startOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  };

  beforeAll(async () => {
    other = spawn('sleep', ['600'], { stdio: 'ignore' });
    await new Promise((r) => other.once('spawn', r));
  });
  afterAll(() => other.kill('SIGKILL'));
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rsp-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('the mark names this process, its boot and start time; a second open in the same process shares it; release removes it', () => {
    const release = lockEmbeddedDatabase(dir);
    expect(readFileSync(mark(), 'utf8')).toBe(`${process.pid} ${bootId} ${startOf(process.pid)}\n`);
    lockEmbeddedDatabase(dir)();
    expect(existsSync(mark())).toBe(true);
    release();
    expect(existsSync(mark())).toBe(false);
  });

  test('a live other process holding the mark is refused with UNAVAILABLE naming it, in the new and the old (pid only) format', () => {
    for (const text of [`${other.pid} ${bootId} ${startOf(other.pid!)}\n`, `${other.pid}\n`]) {
      writeFileSync(mark(), text);
      expect(() => lockEmbeddedDatabase(dir)).toThrow(UnavailableError);
      expect(() => lockEmbeddedDatabase(dir)).toThrow(new RegExp(`is open in process ${other.pid} `));
      expect(readFileSync(mark(), 'utf8')).toBe(text);
    }
  });

  test.each([
    ['from an earlier boot', () => `${other.pid} 00000000-0000-0000-0000-000000000000 ${startOf(other.pid!)}\n`],
    ['whose pid now names another process (reused)', () => `${other.pid} ${bootId} 1\n`],
    ['of a process that is gone', () => '4194304\n'],
  ])('a mark %s is taken over', (_what, text) => {
    writeFileSync(mark(), text());
    const release = lockEmbeddedDatabase(dir);
    expect(readFileSync(mark(), 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    release();
  });

  test("release leaves a mark that another process took over in place", () => {
    const release = lockEmbeddedDatabase(dir);
    const theirs = `${other.pid} ${bootId} ${startOf(other.pid!)}\n`;
    writeFileSync(mark(), theirs);
    release();
    expect(readFileSync(mark(), 'utf8')).toBe(theirs);
  });
});
