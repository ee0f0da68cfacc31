/** Opaque cursors for keyset pagination: base64url JSON of the last row's sort key. */
import { Problem } from './problem';

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** What each part of a key must be, so a forged cursor is a 400 and never reaches SQL as a bad cast (a 500). */
export type CursorPart = 'timestamp' | 'uuid' | 'string' | 'number';

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function partOk(value: unknown, kind: CursorPart): boolean {
  switch (kind) {
    case 'timestamp': return typeof value === 'string' && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00')));
    case 'uuid': return typeof value === 'string' && UUID.test(value);
    case 'string': return typeof value === 'string' && value.length <= 500;
    case 'number': return typeof value === 'number' && Number.isFinite(value);
  }
}

/** The key a cursor holds: `shape` is its length, or what each part must be (checked). */
export function decodeCursor(cursor: string, shape: number | readonly CursorPart[]): unknown[] {
  const arity = typeof shape === 'number' ? shape : shape.length;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === arity && (typeof shape === 'number' || shape.every((kind, i) => partOk(key[i], kind)))) return key;
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
