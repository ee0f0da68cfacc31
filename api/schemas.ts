/** Zod schemas shared by several routes: ids, languages, pagination, money. */
import { z } from 'zod';

export const uuid = z.uuid({ error: 'must be a UUID' });
export const language = z.enum(['es', 'en']);
export const limit = z.coerce.number().int().min(1).max(100).default(20).describe('Page size, 1 to 100 (default 20)');
export const cursor = z.string().max(512).optional().describe('nextCursor from the previous page');
export const isoDateTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-12-01T00:00:00Z' });
export const dateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: 'must be a date (YYYY-MM-DD) or an ISO 8601 date-time',
});
export const money = z.object({ amount: z.int().describe('Integer amount in minor units (cents)'), currency: z.string().length(3) });

export const idParams = z.object({ id: uuid });

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ object: z.literal('list'), data: z.array(item), hasMore: z.boolean(), nextCursor: z.string().nullable() });
}

/** What a provider's event webhook answers: how many events came, how many were new. */
export const webhookReceipt = z.object({
  received: z.int(), stored: z.int().describe('New events recorded'), duplicates: z.int().describe('Events already recorded, ignored'),
});
