import { embeddedOpenError } from '../../gateway/persistence/embedded-open-error';

/** PGlite's file system fails with Emscripten's ErrnoError: a WASI errno, no message (it printed as "undefined"). */
function errnoError(errno: number): Error {
  return Object.assign(Object.create(Error.prototype) as Error, { name: 'ErrnoError', errno });
}

describe('an embedded database that cannot be opened says why', () => {
  test("a full disk (PGlite's ENOSPC, 51): UNAVAILABLE, reason DISK_FULL, what to do", () => {
    const e = embeddedOpenError('/data/db', errnoError(51));
    expect(e.category).toBe('UNAVAILABLE');
    expect(e.details).toMatchObject({ reason: 'DISK_FULL', code: 'ENOSPC', dataDir: '/data/db' });
    expect(e.message).toBe('Cannot open the embedded database at /data/db: no space left on device (ENOSPC): free space on its disk (RSP_DATA_DIR), then start again');
  });

  test('a read-only or forbidden folder names the setting; an unknown errno is still a number, never "undefined"', () => {
    expect(embeddedOpenError('/data/db', errnoError(69)).message).toBe('Cannot open the embedded database at /data/db: read-only file system (EROFS): check that RSP_DATA_DIR (or --data-dir) names a folder this user can write');
    expect(embeddedOpenError('/data/db', errnoError(2)).details).toMatchObject({ code: 'EACCES' });
    expect(embeddedOpenError('/data/db', errnoError(999)).message).toMatch(/: file system error \(errno 999\): check that RSP_DATA_DIR/);
  });

  test("Node's own errors (writing the lock's mark) keep their message; anything else its message", () => {
    const full = Object.assign(new Error("ENOSPC: no space left on device, open '/data/db/rsp-open.pid'"), { code: 'ENOSPC' });
    expect(embeddedOpenError('/data/db', full).details).toMatchObject({ reason: 'DISK_FULL' });
    const denied = Object.assign(new Error("EACCES: permission denied, open '/data/db/rsp-open.pid'"), { code: 'EACCES' });
    expect(embeddedOpenError('/data/db', denied).message).toBe("Cannot open the embedded database at /data/db: EACCES: permission denied, open '/data/db/rsp-open.pid': check that RSP_DATA_DIR (or --data-dir) names a folder this user can write");
    expect(embeddedOpenError('/data/db', new Error('PGlite failed to initialize properly')).message).toBe('Cannot open the embedded database at /data/db: PGlite failed to initialize properly');
  });
});
