import { expect } from 'chai';
import { decodeCursor, encodeCursor, page } from '../../api/http/cursor';
import { Problem } from '../../api/http/problem';

describe('cursors', () => {
  it('round-trips a key and pages with limit + 1 rows', () => {
    expect(decodeCursor(encodeCursor(['2026-01-01T00:00:00.000Z', 'abc']), 2)).to.deep.equal(['2026-01-01T00:00:00.000Z', 'abc']);
    const result = page([1, 2, 3], 2, (n) => n * 10, (n) => [n]);
    expect(result).to.deep.include({ data: [10, 20], hasMore: true });
    expect(decodeCursor(result.nextCursor!, 1)).to.deep.equal([2]);
    expect(page([1, 2], 2, (n) => n, (n) => [n])).to.deep.include({ hasMore: false, nextCursor: null });
  });

  it('refuses cursors it did not make', () => {
    for (const bad of ['garbage', encodeCursor(['only-one']), Buffer.from('{"a":1}').toString('base64url')]) {
      expect(() => decodeCursor(bad, 2)).to.throw(Problem).with.property('code', 'invalid_cursor');
    }
  });
});
