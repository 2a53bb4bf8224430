import { CONSOLE_BANNER, doubleEscapes, withoutBanner } from '../../../drivers/lxc/console';

/** What `chunks` become through a banner filter. */
async function filtered(chunks: string[]): Promise<string> {
  const f = withoutBanner(CONSOLE_BANNER);
  let out = '';
  f.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const done = new Promise((resolve) => f.on('end', resolve));
  for (const c of chunks) f.write(Buffer.from(c));
  f.end();
  await done;
  return out;
}

/** The LXC console's byte handling: Ctrl-a doubled on the way in, lxc-console's banner dropped on the way out. */
describe('the LXC console streams', () => {
  test('every Ctrl-a typed is doubled (lxc-console passes Ctrl-a Ctrl-a on as one), the rest as typed', () => {
    expect(doubleEscapes(Buffer.from('ls\n'))).toEqual(Buffer.from('ls\n'));
    expect(doubleEscapes(Buffer.from('\x01q'))).toEqual(Buffer.from('\x01\x01q'));
    expect(doubleEscapes(Buffer.from('a\x01\x01b'))).toEqual(Buffer.from('a\x01\x01\x01\x01b'));
  });

  test('the banner is dropped at the start only, however it is split; other output passes whole', async () => {
    const half = Math.floor(CONSOLE_BANNER.length / 2);
    expect(await filtered([CONSOLE_BANNER.slice(0, half), CONSOLE_BANNER.slice(half) + '/ # '])).toBe('/ # ');
    expect(await filtered([CONSOLE_BANNER, 'x', CONSOLE_BANNER])).toBe(`x${CONSOLE_BANNER}`);
    expect(await filtered(['\nConnected to', ' something else\n'])).toBe('\nConnected to something else\n');
    expect(await filtered(['hello'])).toBe('hello');
    expect(await filtered(['\nConn'])).toBe('\nConn');
  });
});
