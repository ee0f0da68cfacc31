/** Opaque cursors for keyset pagination: base64url JSON of the last row's sort key. */
import { Problem } from './problem';

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): unknown[] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === arity) return key;
  } catch {
    // fall through to the refusal below
  }
  throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned; pass nextCursor from a previous page unchanged.', { param: 'cursor' });
}

export interface Page<T> {
  object: 'list';
  data: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** Rows fetched with limit + 1: the extra row only says there is more. */
export function page<R, T>(rows: R[], limit: number, toItem: (row: R) => T, keyOf: (row: R) => unknown[]): Page<T> {
  const hasMore = rows.length > limit;
  const shown = hasMore ? rows.slice(0, limit) : rows;
  return {
    object: 'list',
    data: shown.map(toItem),
    hasMore,
    nextCursor: hasMore ? encodeCursor(keyOf(shown[shown.length - 1])) : null,
  };
}
