import { offsetFromCursor, toConnection } from '../../schema/common/connection';

describe('cursor pagination', () => {
  test('cursors round-trip to the next offset', () => {
    const page = toConnection({ items: ['a', 'b', 'c'], total: 10 }, 3);
    expect(page.nodes).toEqual(['a', 'b', 'c']);
    expect(page.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expect(offsetFromCursor(page.pageInfo.endCursor)).toBe(6);
    expect(offsetFromCursor(undefined)).toBe(0);
  });

  test('the last page says there is no next page', () => {
    const page = toConnection({ items: ['x'], total: 1 }, 0);
    expect(page.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: false, startCursor: page.edges[0]!.cursor, endCursor: page.edges[0]!.cursor });
  });

  test('a foreign cursor is BAD_USER_INPUT', () => {
    expect(() => offsetFromCursor('not-a-cursor')).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT' }));
    // An offset past what any table holds (past bigint: the database refused it with its own message) is no cursor of ours either.
    for (const offset of ['99999999999999999999999', '1000000000000000', '-1', '1e5']) {
      expect(() => offsetFromCursor(Buffer.from(`offset:${offset}`).toString('base64url'))).toThrow(expect.objectContaining({ category: 'BAD_USER_INPUT', message: expect.stringContaining('is not a valid cursor') }));
    }
    expect(offsetFromCursor(Buffer.from('offset:999999999999999').toString('base64url'))).toBe(1e15);
  });
});
