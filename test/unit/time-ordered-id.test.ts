import { timeOrderedId } from '../../gateway/persistence/time-ordered-id';

describe('timeOrderedId', () => {
  test('is a UUID version 7 whose first 48 bits are the time in milliseconds', () => {
    const id = timeOrderedId(0x0123456789ab);
    expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('ids of later milliseconds sort after earlier ones, and no two are the same', () => {
    const ids = [1000, 1000, 1001, 256 ** 3, 2 ** 40].map((ms) => timeOrderedId(ms));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 2; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(ids[0]!.slice(0, 15)).toBe(ids[1]!.slice(0, 15));
  });
});
