/**
 * Catalog reads: tours and departures with their localized content and prices, shaped for the
 * API. These are the hottest queries of the platform (availability), so they are single SQL
 * statements over indexed columns rather than eager-loaded model graphs.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Language } from './tour';

/**
 * Runs a catalog query as a named (server-side prepared) statement: PostgreSQL parses and plans
 * each distinct query shape once per connection instead of on every request, which halves its
 * CPU per availability read. The shapes are bounded (one per combination of optional filters),
 * so the per-connection statement cache stays small.
 */
async function prepared<T>(knex: Knex, query: Knex.QueryBuilder): Promise<T[]> {
  const { sql, bindings } = query.toSQL().toNative();
  const name = `catalog_${crypto.createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = (await client.acquireConnection()) as { query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: T[] }> };
  try {
    return (await connection.query({ name, text: sql, values: bindings as unknown[] })).rows;
  } finally {
    await client.releaseConnection(connection);
  }
}

export interface TourFilters {
  language: Language;
  destination?: string;
  country?: string;
  category?: string;
  branch?: string;
  after?: string; // cursor: last tour code
  limit: number;
}

const NEXT_DEPARTURE = `(select min(d.starts_at) from departures d where d.tour_id = t.id and d.status in ('scheduled', 'guaranteed')
  and d.starts_at > now() and d.capacity > d.seats_held + d.seats_sold) as next_departure_at`;

const PRICES = `(select coalesce(json_agg(json_build_object('paxType', p.pax_type, 'amount', p.amount_minor, 'minAge', p.min_age, 'maxAge', p.max_age)
  order by case p.pax_type when 'adult' then 0 when 'child' then 1 else 2 end), '[]') from tour_prices p where p.tour_id = t.id)`;

function localized(knex: Knex, language: Language) {
  // The requested language, falling back to English when a tour lacks it.
  return knex.raw(`coalesce(tl.title, te.title) as title, coalesce(tl.summary, te.summary) as summary,
    case when tl.tour_id is null then 'en' else ? end as content_language`, [language]);
}

function joinTranslations(q: Knex.QueryBuilder, language: Language) {
  return q
    .leftJoin('tour_translations as tl', (j) => j.on('tl.tour_id', 't.id').andOnVal('tl.language', language))
    .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'));
}

function destinationFilter(q: Knex.QueryBuilder, destination: string | undefined, country: string | undefined) {
  if (country) q.where('t.destination_country', country.toUpperCase());
  if (destination) {
    q.where((w) => w.whereRaw('lower(t.destination_city) like ?', [`${destination.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`])
      .orWhere('t.destination_country', destination.toUpperCase()));
  }
}

export async function listTours(knex: Knex, f: TourFilters) {
  const q = knex('tours as t')
    .join('branches as b', 'b.id', 't.branch_id')
    .where('t.status', 'active')
    .select('t.id', 't.code', 't.category', 't.destination_city', 't.destination_country', 't.duration_minutes', 't.currency',
      'b.code as branch_code', localized(knex, f.language), knex.raw(`${PRICES} as prices`),
      knex.raw(NEXT_DEPARTURE))
    .orderBy('t.code')
    .limit(f.limit + 1);
  joinTranslations(q, f.language);
  destinationFilter(q, f.destination, f.country);
  if (f.category) q.where('t.category', f.category);
  if (f.branch) q.where('b.code', f.branch.toUpperCase());
  if (f.after) q.where('t.code', '>', f.after);
  return prepared<Record<string, any>>(knex, q);
}

export async function getTour(knex: Knex, id: string, language: Language) {
  const q = knex('tours as t')
    .join('branches as b', 'b.id', 't.branch_id')
    .where('t.id', id)
    .whereNot('t.status', 'draft')
    .first('t.*', 'b.code as branch_code', 'b.timezone as branch_timezone', localized(knex, language),
      knex.raw('coalesce(tl.description, te.description) as description, coalesce(tl.itinerary, te.itinerary) as itinerary, coalesce(tl.meeting_point, te.meeting_point) as meeting_point'),
      knex.raw(`${PRICES} as prices`), knex.raw(NEXT_DEPARTURE),
      knex.raw('(select array_agg(language order by language) from tour_translations x where x.tour_id = t.id) as languages'));
  joinTranslations(q, language);
  return q;
}

export interface DepartureFilters {
  language: Language;
  tourId?: string;
  from: Date;
  to?: Date;
  destination?: string;
  country?: string;
  category?: string;
  minSeats?: number;
  after?: [string, string]; // cursor: last (starts_at, id)
  limit: number;
}

/** The departure's price adjustment in effect (basis points; null: none), as models/holds.ts prices a hold. */
const PRICE_ADJUSTMENT = `(select a.adjustment_bp from departure_price_adjustments a where a.departure_id = d.id and a.effective_from <= now()
  order by a.effective_from desc, a.created_at desc limit 1) as price_adjustment_bp`;

function departureColumns(knex: Knex, language: Language) {
  return [
    'd.id', 'd.tour_id', 'd.starts_at', 'd.timezone', 'd.capacity', 'd.seats_held', 'd.seats_sold', 'd.status',
    'd.price_overrides', 'd.guarantee_deadline', 't.code', 't.category', 't.destination_city', 't.destination_country',
    't.duration_minutes', 't.currency', 't.min_pax', 't.max_pax', localized(knex, language), knex.raw(`${PRICES} as prices`),
    knex.raw(PRICE_ADJUSTMENT),
  ];
}

export async function listDepartures(knex: Knex, f: DepartureFilters) {
  const q = knex('departures as d')
    .join('tours as t', 't.id', 'd.tour_id')
    .where('t.status', 'active')
    .whereIn('d.status', ['scheduled', 'guaranteed'])
    .where('d.starts_at', '>=', f.from)
    .select(departureColumns(knex, f.language))
    .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }])
    .limit(f.limit + 1);
  joinTranslations(q, f.language);
  destinationFilter(q, f.destination, f.country);
  if (f.to) q.where('d.starts_at', '<', f.to);
  if (f.tourId) q.where('d.tour_id', f.tourId);
  if (f.category) q.where('t.category', f.category);
  if (f.minSeats) q.whereRaw('d.capacity - d.seats_held - d.seats_sold >= ?', [f.minSeats]);
  if (f.after) q.whereRaw('(d.starts_at, d.id) > (?::timestamptz, ?::uuid)', f.after);
  return prepared<Record<string, any>>(knex, q);
}

export async function getDeparture(knex: Knex, id: string, language: Language) {
  const q = knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', id).whereNot('t.status', 'draft')
    .first(departureColumns(knex, language));
  joinTranslations(q, language);
  return q;
}
