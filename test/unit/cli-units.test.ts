import { fromGateway, GatewayClient, mergeOperation, Operation } from '../../gateway/cli/client';
import { ProgressBar } from '../../gateway/cli/progress';
import { CommandContext, followWithProgress } from '../../gateway/cli/commands/context';
import { parseRequirement } from '../../gateway/cli/commands/layer';
import { renderTop } from '../../gateway/cli/commands/top';
import { eventLine } from '../../gateway/cli/commands/events';
import { defaultUnitOf, details, errorText, humanBitsPerSecond, parseAmount, parseBitsPerSecond, parseValue, percent, printable, printableLines, table, usedOfTotalGiB } from '../../gateway/cli/output';

const GiB = 2 ** 30;

describe('rsp units and parsing', () => {
  test('rates parse in decimal units and print back', () => {
    expect(parseBitsPerSecond('100Mbit')).toBe(100e6);
    expect(parseBitsPerSecond('1.5 Gbit/s')).toBe(1.5e9);
    expect(parseBitsPerSecond('1e9')).toBe(1e9);
    expect(() => parseBitsPerSecond('fast')).toThrow(/not a rate/);
    expect(humanBitsPerSecond(1.5e6)).toBe('1.5 Mbit/s');
  });

  test('amounts follow the unit of the resource type', () => {
    expect(defaultUnitOf('ram')).toBe('BYTES');
    expect(defaultUnitOf('NET_BANDWIDTH')).toBe('BITS_PER_SECOND');
    expect(defaultUnitOf('GPU')).toBe('COUNT');
    expect(parseAmount('2GiB', 'BYTES')).toBe(2 * GiB);
    expect(parseAmount('250Mbit', 'BITS_PER_SECOND')).toBe(250e6);
    expect(parseAmount('2.5', 'CORES')).toBe(2.5);
    expect(() => parseAmount('', 'COUNT')).toThrow(/not a number/);
  });

  test('memory as used/total GiB, fractions as percentages, values typed from text', () => {
    expect(usedOfTotalGiB(3.25 * GiB, 15.6 * GiB)).toBe('3.3/15.6 GiB');
    expect(percent(0.425)).toBe('42.5%');
    expect([parseValue('true'), parseValue('12'), parseValue('-1.5'), parseValue('debian')]).toEqual([true, 12, -1.5, 'debian']);
  });

  test('requirements: key, =, !=, >=, <=, and | for IN', () => {
    expect(parseRequirement('gpu')).toEqual({ key: 'gpu', op: 'EXISTS', values: [] });
    expect(parseRequirement('diskEncryption=true')).toEqual({ key: 'diskEncryption', op: 'EQ', values: [true] });
    expect(parseRequirement('os!=windows')).toEqual({ key: 'os', op: 'NEQ', values: ['windows'] });
    expect(parseRequirement('release>=12')).toEqual({ key: 'release', op: 'GTE', values: [12] });
    expect(parseRequirement('os=debian|alpine')).toEqual({ key: 'os', op: 'IN', values: ['debian', 'alpine'] });
    expect(() => parseRequirement('=x')).toThrow(/not a requirement/);
  });

  test('the top screen: a row per target, units, "-" until a sample arrives', () => {
    const screen = renderTop([
      { kind: 'host', id: 'h1', name: 'zaphod', sample: { hostId: 'h1', at: 'now', cpu: { usage: 0.5, cores: [0.4, 0.6] }, load: { one: 1.25 }, memory: { totalBytes: 16 * GiB, usedBytes: 4 * GiB }, disks: [{ readBytesPerSecond: 1024, writeBytesPerSecond: 2048 }], networks: [{ interface: 'lo', rxBytesPerSecond: 1e9, txBytesPerSecond: 1e9 }, { interface: 'eth0', rxBytesPerSecond: 125_000, txBytesPerSecond: 250_000 }], dropped: 0 } as never },
      { kind: 'host', id: 'h2', name: 'trillian' },
    ]);
    expect(screen.split('\n')).toEqual([
      'HOSTS',
      expect.stringMatching(/^HOST\s+CPU\s+CORES\s+LOAD\s+MEMORY\s+NET RX\s+NET TX\s+DISK READ\s+DISK WRITE\s+ID$/),
      expect.stringMatching(/^zaphod\s+50\.0%\s+2\s+1\.25\s+4\.0\/16\.0 GiB\s+1 Mbit\/s\s+2 Mbit\/s\s+1 KiB\/s\s+2 KiB\/s\s+h1$/),
      expect.stringMatching(/^trillian(\s+-){8}\s+h2$/),
      '',
    ]);
  });

  test('followed operations never go back: an older polled row after a newer event keeps the newer, progress only grows within a state, the first end stays', () => {
    const op = (state: Operation['state'], progress: number, second: number): Operation => ({ id: 'o', kind: 'environment.create', targetType: 'environment', targetId: 'e', state, progress, message: null, error: null, createdAt: '2026-12-04T20:00:00.000Z', updatedAt: `2026-12-04T20:00:${String(second).padStart(2, '0')}.000Z`, finishedAt: null });
    const event = op('RUNNING', 0.1, 5);
    const first = mergeOperation(undefined, event);
    expect(first).toBe(event);
    // The 10 % → 0 % → 10 % of a poll answering the row stored before the event.
    expect(mergeOperation(first, op('RUNNING', 0, 4))).toBe(first);
    expect(mergeOperation(first, op('PENDING', 0, 6))).toBe(first);
    // Newer, same state, less progress (the stored row lagging the event): the newer message, the progress shown so far.
    expect(mergeOperation(first, op('RUNNING', 0.05, 6))).toMatchObject({ state: 'RUNNING', progress: 0.1, updatedAt: '2026-12-04T20:00:06.000Z' });
    expect(mergeOperation(first, op('RUNNING', 0.4, 6)).progress).toBe(0.4);
    // The stored row of the event's own time, written before its progress was (no message, less progress): not shown over it.
    const said = { ...event, message: 'importing the image and creating' };
    expect(mergeOperation(said, op('RUNNING', 0, 5))).toBe(said);
    expect(mergeOperation(said, op('RUNNING', 0.1, 5))).toBe(said);
    expect(mergeOperation(said, { ...op('RUNNING', 0.1, 5), message: 'started' })).toMatchObject({ message: 'started' });
    // A later state wins whatever its progress or clock; after an end nothing changes it.
    const ended = mergeOperation(first, op('FAILED', 0, 5));
    expect(ended.state).toBe('FAILED');
    expect(mergeOperation(ended, op('RUNNING', 0.9, 9))).toBe(ended);
    expect(mergeOperation(ended, op('SUCCEEDED', 1, 9))).toBe(ended);
    // Replayed in any order, the progress shown is never lower than before.
    const arrivals = [op('PENDING', 0, 1), op('RUNNING', 0.1, 5), op('RUNNING', 0, 3), op('RUNNING', 0.3, 7), op('PENDING', 0, 1), op('RUNNING', 0.2, 6), op('SUCCEEDED', 1, 8), op('RUNNING', 0.3, 7)];
    let shown: Operation | undefined;
    const progress: number[] = [];
    for (const a of arrivals) {
      shown = mergeOperation(shown, a);
      progress.push(shown.progress);
    }
    expect(progress).toEqual([0, 0.1, 0.1, 0.3, 0.3, 0.3, 1, 1]);
  });

  test('the progress of a followed operation starts from what its start answered: a row stored before it does not take it back to 0 %', async () => {
    const op = (state: Operation['state'], progress: number, second: number, message: string | null): Operation => ({ id: 'o', kind: 'environment.create', targetType: 'environment', targetId: 'e', state, progress, message, error: null, createdAt: '2026-12-04T20:00:00.000Z', updatedAt: `2026-12-04T20:00:${String(second).padStart(2, '0')}.000Z`, finishedAt: null });
    const started = op('RUNNING', 0.1, 5, 'importing the image and creating');
    // The stored row the subscription or the first poll answers lags the start's answer.
    const client = { followOperation: async (_id: string, onUpdate: (o: Operation) => void) => {
      onUpdate(op('RUNNING', 0, 4, null));
      const done = op('SUCCEEDED', 1, 7, 'importing the image and creating');
      onUpdate(done);
      return done;
    } } as unknown as GatewayClient;
    const lines: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const tty = process.stderr.isTTY;
    process.stderr.isTTY = false;
    try {
      const ctx: CommandContext = { client, connection: { url: 'http://127.0.0.1:1', token: undefined, groupId: undefined }, json: false };
      expect((await followWithProgress(ctx, started, 'create web')).state).toBe('SUCCEEDED');
    } finally {
      write.mockRestore();
      process.stderr.isTTY = tty;
    }
    expect(lines).toEqual(['create web:  10% RUNNING importing the image and creating\n', 'create web: 100% SUCCEEDED importing the image and creating\n']);
  });
});


describe('rsp prints what other groups wrote as text, never as terminal commands', () => {
  test('control characters, DEL, C1 and bidirectional overrides are shown escaped; other text as it is', () => {
    // A public image named to clear the screen, retitle the window and write the clipboard (OSC 52).
    const name = 'ubuntu\x1b[2J\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m\x7f';
    expect(printable(name)).toBe('ubuntu\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;cm0gLXJmIH4=\\x07\\x9b31m\\x7f');
    expect(printable('txt.\u202eexe')).toBe('txt.\\u202eexe');
    expect(printable('Café 🚀 — ünïcode')).toBe('Café 🚀 — ünïcode');
  });

  test('a table or details line holds one row per record: a newline in a cell does not forge another', () => {
    const rows = [{ name: 'mine\nevil-row  root  PUBLIC', kind: 'x\ty' }, { name: 'other', kind: 'z' }];
    const out = table(rows, [{ header: 'NAME', value: (r) => r.name }, { header: 'KIND', value: (r) => r.kind }]);
    expect(out.trimEnd().split('\n')).toHaveLength(3);
    expect(out).toContain('mine\\nevil-row  root  PUBLIC');
    expect(out).not.toMatch(/\x1b|\t/);
    expect(details([['terms', 'free\x1b[31m\r\nfake: line']]).trimEnd().split('\n')).toHaveLength(1);
  });

  test('an error of several lines reads as one: its continuation lines indented under its text, its code at its end', () => {
    expect(errorText('invalid configuration:\n  PORT: "abc" is not a port\n  LOG_LEVEL: "\x1b[2J"', 'BAD_USAGE')).toBe('rsp: invalid configuration:\n       PORT: "abc" is not a port\n       LOG_LEVEL: "\\x1b[2J" [BAD_USAGE]\n');
    expect(errorText('unexpected error: Error: boom\n    at f (x.js:1:1)\n\nlater')).toBe('rsp: unexpected error: Error: boom\n         at f (x.js:1:1)\n\n     later\n');
    expect(errorText('one line', null)).toBe('rsp: one line\n');
    // No line of a message starts where an error of its own would.
    expect(errorText('a\nrsp: fine\nb').split('\n').filter((l) => l.startsWith('rsp: '))).toHaveLength(1);
  });

  test("the gateway's errors and operation messages are escaped, newlines included; rsp's own newlines stay", () => {
    expect(fromGateway({ message: 'no\x1b[2J\nrsp: fine', extensions: { code: 'CONFLICT\x07' } })).toEqual({ message: 'no\\x1b[2J\\nrsp: fine', extensions: { code: 'CONFLICT\\x07' } });
    expect(printableLines('invalid configuration:\n  PORT: "\x1b[2J"')).toBe('invalid configuration:\n  PORT: "\\x1b[2J"');
    const written: string[] = [];
    const stream = { isTTY: false, write: (chunk: string) => written.push(chunk) } as unknown as NodeJS.WriteStream;
    new ProgressBar('stop web', stream).update({ state: 'RUNNING', progress: 0.5, message: 'stopping\x1b]0;pwned\x07\r\n' } as Operation);
    expect(written).toEqual(['stop web:  50% RUNNING stopping\\x1b]0;pwned\\x07\\r\\n\n']);
  });

  test('event lines escape what they carry', () => {
    const line = eventLine({ __typename: 'Event', kind: 'ENVIRONMENT', at: '2026-01-01T00:00:00Z', environment: { id: 'e', name: 'web\x1b[2J', status: 'RUNNING', hostId: 'h' } } as never);
    expect(line).toContain('web\\x1b[2J');
    expect(line).not.toContain('\x1b');
  });
});
