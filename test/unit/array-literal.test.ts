import { PGlite } from '@electric-sql/pglite';
import { arrayLiteral } from '../../gateway/persistence/array-literal';

describe('arrayLiteral: array parameters as PostgreSQL text literals', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = new PGlite();
    await db.waitReady;
  });
  afterAll(() => db.close());

  test('every kind of element comes back as it went in, NULLs, quotes, backslashes and separators included', async () => {
    const texts = ['plain', 'a"b', 'back\\slash', 'a,b', '{braces}', ' spaced ', '', 'NULL', null, 'ünï'];
    const at = new Date('2026-12-04T05:00:00.123Z');
    const { rows } = await db.query<{ t: string[]; n: number[]; b: boolean[]; d: Date[]; u: string[] }>(
      'SELECT $1::text[] AS t, $2::float8[] AS n, $3::bool[] AS b, $4::timestamptz[] AS d, $5::uuid[] AS u',
      [arrayLiteral(texts), arrayLiteral([1.5, -2, 0, null, 2 ** 40]), arrayLiteral([true, false, undefined]), arrayLiteral([at, null]), arrayLiteral(['7f1c1c9e-0d2c-4a6e-9a57-3f3b1f4b8b01'])],
    );
    expect(rows[0]!.t).toEqual(texts);
    expect(rows[0]!.n).toEqual([1.5, -2, 0, null, 2 ** 40]);
    expect(rows[0]!.b).toEqual([true, false, null]);
    expect(rows[0]!.d.map((d) => d?.toISOString() ?? null)).toEqual([at.toISOString(), null]);
    expect(rows[0]!.u).toEqual(['7f1c1c9e-0d2c-4a6e-9a57-3f3b1f4b8b01']);
  });

  test('strings JSON would escape (control characters, lone surrogates), non-finite numbers and a mix of all come back as they went in', async () => {
    const texts = ['tab\there', 'line\nbreak', '\u0001', 'a"b', 'lone \ud800', null, 'plain'];
    const numbers = [NaN, Infinity, -Infinity, 1.25, null];
    const { rows } = await db.query<{ t: string[]; n: number[]; d: Date[] }>('SELECT $1::text[] AS t, $2::float8[] AS n, $3::timestamptz[] AS d', [arrayLiteral(texts), arrayLiteral(numbers), arrayLiteral([new Date(0), undefined])]);
    expect(rows[0]!.t).toEqual(texts.map((t) => (t === 'lone \ud800' ? 'lone \ufffd' : t)));
    expect(rows[0]!.n).toEqual(numbers);
    expect(rows[0]!.d.map((d) => d?.toISOString() ?? null)).toEqual([new Date(0).toISOString(), null]);
  });

  test('an invalid date is an error, not a NULL', () => {
    expect(() => arrayLiteral([new Date(NaN)])).toThrow(RangeError);
  });

  test('an empty array is {}; elements stay apart however they are spelled', () => {
    expect(arrayLiteral([])).toBe('{}');
    expect(arrayLiteral(['a","b'])).toBe('{"a\\",\\"b"}');
  });
});
