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
  });
});
