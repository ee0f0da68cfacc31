/**
 * Segments: AND/OR/NOT rule trees over contact fields, booking history and engagement,
 * validated with zod and compiled to one SQL WHERE over `contacts as c` (values always bound,
 * never spliced). The audience of a send is the segment ∩ email consent granted ∖ suppressions.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { SOLD_STATUSES } from '../domain/bookings';

const days = z.int().min(0).max(36500);
const code = z.string().trim().min(1).max(64);

export const conditionSchema = z.union([
  z.object({ field: z.enum(['language', 'country', 'source', 'timezone']), op: z.enum(['eq', 'neq']), value: code }).strict(),
  z.object({ field: z.enum(['language', 'country', 'source', 'timezone']), op: z.literal('in'), value: z.array(code).min(1).max(100) }).strict(),
  z.object({ field: z.literal('tag'), op: z.enum(['has', 'lacks']), value: code }).strict(),
  z.object({ field: z.literal('created'), op: z.enum(['within_days', 'older_than_days']), value: days }).strict(),
  z.object({ field: z.literal('birthday_month'), op: z.literal('eq'), value: z.int().min(1).max(12) }).strict(),
  z.object({ field: z.literal('booked_tour'), op: z.literal('eq'), value: code.describe('tour code') }).strict(),
  z.object({ field: z.literal('booked_destination'), op: z.literal('eq'), value: code.describe('country code or city') }).strict(),
  z.object({ field: z.literal('last_trip'), op: z.enum(['within_days', 'older_than_days']), value: days }).strict(),
  z.object({ field: z.literal('total_spend'), op: z.enum(['gte', 'lte']), value: z.int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) }).strict(),
  z.object({ field: z.enum(['opened', 'clicked']), op: z.enum(['within_days', 'not_within_days']), value: days }).strict(),
]);
export type Condition = z.infer<typeof conditionSchema>;

export type SegmentNode = Condition | { all: SegmentNode[] } | { any: SegmentNode[] } | { not: SegmentNode };

export const segmentNodeSchema: z.ZodType<SegmentNode> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(segmentNodeSchema).min(1).max(50) }).strict(),
    z.object({ any: z.array(segmentNodeSchema).min(1).max(50) }).strict(),
    z.object({ not: segmentNodeSchema }).strict(),
    conditionSchema,
  ]),
).meta({ id: 'SegmentRules', description: 'An AND (all) / OR (any) / NOT tree of conditions on contacts, bookings and engagement' });

/** Refuses trees too deep or too big to be a reasonable audience definition. */
export function checkSegmentSize(node: SegmentNode, depth = 0): string | null {
  if (depth > 8) return 'segment rules nest more than 8 levels deep';
  let count = 0;
  const walk = (n: SegmentNode, d: number): string | null => {
    if (d > 8) return 'segment rules nest more than 8 levels deep';
    if ('all' in n || 'any' in n) {
      for (const child of 'all' in n ? n.all : n.any) {
        const err = walk(child, d + 1);
        if (err) return err;
      }
      return null;
    }
    if ('not' in n) return walk(n.not, d + 1);
    return ++count > 200 ? 'segment rules have more than 200 conditions' : null;
  };
  return walk(node, depth);
}

const COLUMNS = { language: 'c.language', country: 'c.country', source: 'c.source', timezone: 'c.timezone' } as const;
const LIVE_BOOKING = `b.status in (${SOLD_STATUSES.map((s) => `'${s}'`).join(', ')})`;

function applyCondition(q: Knex.QueryBuilder, c: Condition): void {
  switch (c.field) {
    case 'language': case 'country': case 'source': case 'timezone': {
      const column = COLUMNS[c.field];
      const norm = (v: string) => (c.field === 'country' ? v.toUpperCase() : v);
      if (c.op === 'in') q.whereIn(column, (c.value as string[]).map(norm));
      else if (c.op === 'eq') q.where(column, norm(c.value as string));
      else q.where((w) => w.whereNot(column, norm(c.value as string)).orWhereNull(column));
      return;
    }
    case 'tag':
      if (c.op === 'has') q.whereRaw('c.tags @> array[?]::text[]', [c.value]);
      else q.whereRaw('not (c.tags @> array[?]::text[])', [c.value]);
      return;
    case 'created':
      q.whereRaw(`c.created_at ${c.op === 'within_days' ? '>=' : '<'} now() - make_interval(days => ?)`, [c.value]);
      return;
    case 'birthday_month':
      q.whereRaw('extract(month from c.birthday) = ?', [c.value]);
      return;
    case 'booked_tour':
      q.whereRaw(`exists (select 1 from bookings b join departures d on d.id = b.departure_id join tours t on t.id = d.tour_id
        where b.customer_id = c.customer_id and ${LIVE_BOOKING} and t.code = ?)`, [c.value.toUpperCase()]);
      return;
    case 'booked_destination':
      q.whereRaw(`exists (select 1 from bookings b join departures d on d.id = b.departure_id join tours t on t.id = d.tour_id
        where b.customer_id = c.customer_id and ${LIVE_BOOKING} and (t.destination_country = upper(?) or lower(t.destination_city) = lower(?)))`, [c.value, c.value]);
      return;
    // Booking history as one semi-join over bookings (grouped and hashed once per query), not a
    // correlated subquery per contact: over 1M contacts, 3.9 s -> 0.3 s measured (bench/segment.ts).
    // Null-safe on both sides, so that NOT of a condition is its exact complement.
    case 'last_trip': {
      const cmp = c.op === 'within_days' ? '>=' : '<';
      q.whereRaw(`c.customer_id is not null and c.customer_id in (select b.customer_id from bookings b join departures d on d.id = b.departure_id
        where b.customer_id is not null and ${LIVE_BOOKING} and d.starts_at <= now() group by b.customer_id
        having max(d.starts_at) ${cmp} now() - make_interval(days => ?))`, [c.value]);
      return;
    }
    case 'total_spend': {
      // coalesce(spend, 0): a contact with no bookings (or no customer) has spent 0.
      const spend = (cmp: string) => `c.customer_id is not null and c.customer_id in (select b.customer_id from bookings b
        where b.customer_id is not null and b.currency = ? group by b.customer_id
        having sum(b.amount_paid_minor - b.amount_refunded_minor) ${cmp} ?)`;
      if (c.op === 'gte') {
        if (c.value === 0) q.whereRaw('true');
        else q.whereRaw(spend('>='), [c.currency, c.value]);
      } else {
        q.whereRaw(`not (${spend('>')})`, [c.currency, c.value]);
      }
      return;
    }
    case 'opened': case 'clicked': {
      const exists = `exists (select 1 from email_events e where e.email = lower(c.email) and e.type = ?
        and e.occurred_at >= now() - make_interval(days => ?))`;
      q.whereRaw(c.op === 'within_days' ? exists : `not ${exists}`, [c.field === 'opened' ? 'open' : 'click', c.value]);
    }
  }
}

/** Adds the tree as a WHERE group to a query over `contacts as c`. */
export function applySegment(knex: Knex, q: Knex.QueryBuilder, node: SegmentNode): Knex.QueryBuilder {
  if ('all' in node) return q.where((w) => { for (const child of node.all) w.andWhere((x) => { applySegment(knex, x, child); }); });
  if ('any' in node) return q.where((w) => { for (const child of node.any) w.orWhere((x) => { applySegment(knex, x, child); }); });
  if ('not' in node) return q.whereNot((w) => { applySegment(knex, w, node.not); });
  applyCondition(q, node);
  return q;
}

/**
 * Contacts that may receive marketing email: consent granted and not suppressed, as kept in
 * contacts.email_sendable by the database's triggers (migration 000600).
 */
export function sendable(q: Knex.QueryBuilder): Knex.QueryBuilder {
  return q.where('c.email_sendable', true);
}

/** Live count and sample: matching and sendable from one scan, the sample beside it. */
export async function countSegment(knex: Knex, node: SegmentNode): Promise<{ matching: number; sendable: number; sample: Array<{ id: string; email: string; firstName: string | null }> }> {
  const [[counts], sample] = await Promise.all([
    applySegment(knex, knex('contacts as c'), node)
      .select(knex.raw('count(*)::int as matching'), knex.raw('(count(*) filter (where c.email_sendable))::int as sendable')),
    sendable(applySegment(knex, knex('contacts as c'), node)).orderBy('c.created_at', 'desc').limit(5).select('c.id', 'c.email', 'c.first_name'),
  ]);
  return {
    matching: Number(counts.matching),
    sendable: Number(counts.sendable),
    sample: (sample as Array<{ id: string; email: string; first_name: string | null }>).map((r) => ({ id: r.id, email: r.email, firstName: r.first_name })),
  };
}
