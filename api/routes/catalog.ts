/** The public catalog: tours and departures with availability, in Spanish and English. */
import type Koa from 'koa';
import { z } from 'zod';
import { getDeparture, getTour, listDepartures, listTours } from '../../models/catalog';
import type { Language } from '../../models';
import { PAX_TYPES, type PaxType } from '../../domain/bookings';
import { Partner, Tour } from '../../models';
import { isValidTimeZone } from '../../platform/time';
import type { Principal } from '../auth';
import { decodeCursor, page } from '../http/cursor';
import { PUBLIC_AUDIENCE } from '../http/microcache';
import { notFound, Problem } from '../http/problem';
import { route } from '../http/routes';
import { cursor, dateOrDateTime, idParams, isoDateTime, language, limit, listOf, uuid } from '../schemas';

const priceSchema = z.object({
  paxType: z.enum(PAX_TYPES),
  amount: z.int().describe('Gross price in minor units'),
  netAmount: z.int().optional().describe('Partners only: the price they pay (gross minus their commission)'),
  minAge: z.int().nullable(),
  maxAge: z.int().nullable(),
});

const tourSummary = z.object({
  object: z.literal('tour'),
  id: uuid,
  code: z.string(),
  title: z.string(),
  summary: z.string(),
  language: language.describe('Language of title and summary (English when the requested one is missing)'),
  category: z.string(),
  destination: z.object({ city: z.string(), country: z.string() }),
  durationMinutes: z.int(),
  branch: z.string(),
  currency: z.string(),
  prices: z.array(priceSchema),
  nextDepartureAt: z.string().nullable(),
});

const tourDetail = tourSummary.extend({
  description: z.string(),
  itinerary: z.array(z.object({ title: z.string(), detail: z.string() })),
  languages: z.array(language),
  minPax: z.int(),
  maxPax: z.int(),
  inclusions: z.array(z.string()),
  accessibility: z.array(z.string()),
  sustainability: z.record(z.string(), z.unknown()),
  meetingPoint: z.object({ name: z.string(), lat: z.number().nullable(), lng: z.number().nullable() }),
  status: z.enum(['active', 'archived']),
});

const departureSchema = z.object({
  object: z.literal('departure'),
  id: uuid,
  tour: z.object({ id: uuid, code: z.string(), title: z.string(), category: z.string(), destination: z.object({ city: z.string(), country: z.string() }), durationMinutes: z.int() }),
  language,
  startsAt: z.string(),
  timezone: z.string(),
  status: z.enum(['scheduled', 'guaranteed', 'closed', 'cancelled', 'departed', 'completed']),
  capacity: z.int(),
  seatsAvailable: z.int(),
  seatsHeld: z.int().optional().describe('Staff only'),
  seatsSold: z.int().optional().describe('Staff only'),
  minPax: z.int(),
  maxPax: z.int(),
  currency: z.string(),
  prices: z.array(priceSchema),
  priceAdjustmentBp: z.int().optional().describe('The departure\'s price adjustment in effect (basis points of the base price), already in prices'),
});

const langQuery = language.optional().describe('es or en; default from Accept-Language, else en');

function negotiateLanguage(ctx: Koa.Context, requested: Language | undefined): Language {
  const chosen = requested ?? ((ctx.acceptsLanguages('en', 'es') || 'en') as Language);
  ctx.set('Content-Language', chosen);
  ctx.vary('Accept-Language');
  return chosen;
}

const isStaff = (principal: Principal | undefined) => !!principal && ['admin', 'operator'].includes(principal.role);

/**
 * Whose catalog answers are the same, for the micro-cache (api/http/microcache.ts). An answer
 * depends on the caller in two ways only: staff (admin, operator) also see seats held and sold,
 * and a partner sees net rates at ITS commission (partnerCommissionBp). Everyone else (anonymous,
 * customers, accountants, marketers) gets the public answer. Staff are not cached (live counts);
 * a partner's answers are cached under its own id, so one partner never sees another's rates.
 */
export function catalogAudience(principal: Principal | undefined): string | undefined {
  if (!principal) return PUBLIC_AUDIENCE;
  if (isStaff(principal)) return undefined;
  if (principal.role === 'partner') return principal.partnerId ? `partner:${principal.partnerId}` : undefined;
  return PUBLIC_AUDIENCE;
}

const commissionCache = new Map<string, { bp: number; at: number }>();
async function partnerCommissionBp(principal: Principal | undefined): Promise<number | undefined> {
  if (principal?.role !== 'partner' || !principal.partnerId) return undefined;
  const hit = commissionCache.get(principal.partnerId);
  if (hit && Date.now() - hit.at < 60_000) return hit.bp;
  const partner = await Partner.query().findById(principal.partnerId);
  const bp = partner?.status === 'active' ? partner.commissionBp : 0;
  commissionCache.set(principal.partnerId, { bp, at: Date.now() });
  return bp;
}

type PriceRow = { paxType: PaxType; amount: number; minAge: number | null; maxAge: number | null };

function prices(rows: PriceRow[], overrides: Record<string, number> | undefined, commissionBp: number | undefined, adjustmentBp = 0) {
  return rows.map((p) => {
    const base = overrides?.[p.paxType] ?? p.amount;
    const amount = base + Math.round((base * adjustmentBp) / 10000);
    return commissionBp === undefined ? { ...p, amount } : { ...p, amount, netAmount: amount - Math.round((amount * commissionBp) / 10000) };
  });
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());
const num = (value: string | number | null) => (value === null ? null : Number(value));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;

function tourItem(row: Row, commissionBp: number | undefined) {
  return {
    object: 'tour' as const, id: row.id, code: row.code, title: row.title, summary: row.summary, language: row.content_language,
    category: row.category, destination: { city: row.destination_city, country: row.destination_country },
    durationMinutes: row.duration_minutes, branch: row.branch_code, currency: row.currency,
    prices: prices(row.prices, undefined, commissionBp), nextDepartureAt: iso(row.next_departure_at ?? null),
  };
}

function departureItem(row: Row, principal: Principal | undefined, commissionBp: number | undefined) {
  const staff = isStaff(principal);
  return {
    object: 'departure' as const, id: row.id,
    tour: { id: row.tour_id, code: row.code, title: row.title, category: row.category,
      destination: { city: row.destination_city, country: row.destination_country }, durationMinutes: row.duration_minutes },
    language: row.content_language, startsAt: iso(row.starts_at)!, timezone: row.timezone, status: row.status,
    capacity: row.capacity, seatsAvailable: row.capacity - row.seats_held - row.seats_sold,
    ...(staff ? { seatsHeld: row.seats_held, seatsSold: row.seats_sold } : {}),
    minPax: row.min_pax, maxPax: row.max_pax, currency: row.currency,
    prices: prices(row.prices, row.price_overrides, commissionBp, row.price_adjustment_bp ?? 0),
    ...(row.price_adjustment_bp ? { priceAdjustmentBp: row.price_adjustment_bp } : {}),
  };
}

const toDate = (value: string) => new Date(value.length === 10 ? `${value}T00:00:00Z` : value);

export const catalogRoutes = [
  route({
    method: 'GET', path: '/api/v1/tours', operationId: 'listTours', tag: 'Catalog', auth: 'optional',
    summary: 'List active tours',
    description: 'Filters combine with AND. Partners calling with their token also get netAmount on each price.',
    query: z.object({
      lang: langQuery,
      destination: z.string().min(1).max(80).optional().describe('City name prefix or ISO country code'),
      country: z.string().regex(/^[A-Za-z]{2}$/, 'must be a two-letter ISO country code').optional(),
      category: z.string().min(1).max(32).optional(),
      branch: z.string().min(2).max(16).optional().describe('Operating branch code, e.g. MAD'),
      limit,
      cursor,
    }),
    responses: { 200: { description: 'A page of tours', schema: listOf(tourSummary) } },
    handler: async (ctx, { query, principal }) => {
      const lang = negotiateLanguage(ctx, query.lang);
      const after = query.cursor ? decodeCursor(query.cursor, 1)[0] : undefined;
      if (after !== undefined && typeof after !== 'string') throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
      const [rows, bp] = await Promise.all([
        listTours(ctx.knex, { ...query, language: lang, after: after as string | undefined }),
        partnerCommissionBp(principal),
      ]);
      return { body: page(rows, query.limit, (r) => tourItem(r, bp), (r) => [r.code]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/tours/{id}', operationId: 'getTour', tag: 'Catalog', auth: 'optional',
    summary: 'A tour with its full content, prices and meeting point',
    params: idParams,
    query: z.object({ lang: langQuery }),
    responses: { 200: { description: 'The tour', schema: tourDetail }, 404: { description: 'No such tour' } },
    handler: async (ctx, { params, query, principal }) => {
      const lang = negotiateLanguage(ctx, query.lang);
      const [row, bp] = await Promise.all([getTour(ctx.knex, params.id, lang), partnerCommissionBp(principal)]);
      if (!row) throw notFound('tour', params.id);
      return {
        body: {
          ...tourItem(row, bp),
          description: row.description, itinerary: row.itinerary, languages: row.languages, minPax: row.min_pax, maxPax: row.max_pax,
          inclusions: row.inclusions, accessibility: row.accessibility, sustainability: row.sustainability, status: row.status,
          meetingPoint: { name: row.meeting_point, lat: num(row.meeting_lat), lng: num(row.meeting_lng) },
        },
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/departures', operationId: 'listDepartures', tag: 'Catalog', auth: 'optional',
    summary: 'Departures with seats available, soonest first',
    description: 'Open departures (scheduled or guaranteed) of active tours from `from` (default now). Staff also see seats held and sold.',
    query: z.object({
      lang: langQuery,
      tourId: uuid.optional(),
      from: dateOrDateTime.optional().describe('Earliest start (inclusive); default now'),
      to: dateOrDateTime.optional().describe('Latest start (exclusive)'),
      destination: z.string().min(1).max(80).optional().describe('City name prefix or ISO country code'),
      country: z.string().regex(/^[A-Za-z]{2}$/, 'must be a two-letter ISO country code').optional(),
      category: z.string().min(1).max(32).optional(),
      minSeats: z.coerce.number().int().min(1).max(500).optional().describe('Only departures with at least this many free seats'),
      limit,
      cursor,
    }).refine((q) => !q.from || !q.to || toDate(q.from) < toDate(q.to), { message: '"to" must be after "from"', path: ['to'] }),
    responses: { 200: { description: 'A page of departures', schema: listOf(departureSchema) } },
    handler: async (ctx, { query, principal }) => {
      const lang = negotiateLanguage(ctx, query.lang);
      let after: [string, string] | undefined;
      if (query.cursor) {
        const [startsAt, id] = decodeCursor(query.cursor, ['timestamp', 'uuid']);
        if (typeof startsAt !== 'string' || Number.isNaN(Date.parse(startsAt)) || !uuid.safeParse(id).success) {
          throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
        }
        after = [startsAt, id as string];
      }
      const [rows, bp] = await Promise.all([
        listDepartures(ctx.knex, {
          ...query, language: lang, from: query.from ? toDate(query.from) : new Date(), to: query.to ? toDate(query.to) : undefined, after,
        }),
        partnerCommissionBp(principal),
      ]);
      return { body: page(rows, query.limit, (r) => departureItem(r, principal, bp), (r) => [iso(r.starts_at), r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/departures/{id}', operationId: 'getDeparture', tag: 'Catalog', auth: 'optional',
    summary: 'One departure with live availability',
    params: idParams,
    query: z.object({ lang: langQuery }),
    responses: { 200: { description: 'The departure', schema: departureSchema }, 404: { description: 'No such departure' } },
    handler: async (ctx, { params, query, principal }) => {
      const lang = negotiateLanguage(ctx, query.lang);
      const [row, bp] = await Promise.all([getDeparture(ctx.knex, params.id, lang), partnerCommissionBp(principal)]);
      if (!row) throw notFound('departure', params.id);
      return { body: departureItem(row, principal, bp) };
    },
  }),
];

export const departureAdminRoutes = [
  route({
    method: 'POST', path: '/api/v1/tours/{id}/departures', operationId: 'createDeparture', tag: 'Catalog', auth: ['admin', 'operator'],
    summary: 'Schedule a departure of a tour',
    description: 'Operators may schedule departures only for tours of their own branch. The timezone defaults to the branch\'s.',
    params: idParams,
    idempotent: true,
    body: z.object({
      startsAt: isoDateTime.describe('Start, with its UTC offset'),
      capacity: z.int().min(1).max(1000),
      timezone: z.string().refine(isValidTimeZone, 'must be an IANA timezone such as Europe/Madrid').optional(),
      guaranteeDeadline: isoDateTime.optional(),
      priceOverrides: z.partialRecord(z.enum(PAX_TYPES), z.int().min(0)).optional().describe('Per pax type, in minor units'),
      guideName: z.string().max(120).optional(),
      vehicle: z.string().max(120).optional(),
    }).strict(),
    responses: { 201: { description: 'The new departure', schema: departureSchema }, 404: { description: 'No such tour' }, 409: { description: 'That tour already departs at that time' } },
    handler: async (ctx, { params, body, principal }) => {
      const tour = await Tour.query(ctx.knex).findById(params.id).withGraphFetched('branch');
      if (!tour) throw notFound('tour', params.id);
      if (principal!.role === 'operator' && principal!.branchId !== tour.branchId) {
        throw new Problem(403, 'forbidden', 'Operators may schedule departures only for tours of their own branch.');
      }
      if (tour.status === 'archived') throw new Problem(409, 'tour_archived', 'This tour is archived; it takes no new departures.');
      const startsAt = new Date(body.startsAt);
      if (startsAt.getTime() <= Date.now()) throw new Problem(400, 'validation_failed', 'startsAt must be in the future.', { param: 'startsAt' });
      if (body.guaranteeDeadline && new Date(body.guaranteeDeadline) >= startsAt) {
        throw new Problem(400, 'validation_failed', 'guaranteeDeadline must be before startsAt.', { param: 'guaranteeDeadline' });
      }
      const inserted = await ctx.knex('departures')
        .insert({
          tour_id: tour.id, starts_at: startsAt, timezone: body.timezone ?? tour.branch!.timezone, capacity: body.capacity,
          guarantee_deadline: body.guaranteeDeadline ? new Date(body.guaranteeDeadline) : null,
          price_overrides: JSON.stringify(body.priceOverrides ?? {}), guide_name: body.guideName ?? null, vehicle: body.vehicle ?? null,
        })
        .onConflict(['tour_id', 'starts_at']).ignore().returning('id');
      if (!inserted.length) throw new Problem(409, 'departure_exists', `Tour ${tour.code} already has a departure at ${startsAt.toISOString()}.`, { param: 'startsAt' });
      const id = inserted[0].id as string;
      await ctx.knex('audit_log').insert({ actor_user_id: principal!.userId, action: 'departure.created', entity_type: 'departure', entity_id: id, data: JSON.stringify(body), request_id: ctx.state.requestId, ip: ctx.ip });
      const row = await getDeparture(ctx.knex, id, negotiateLanguage(ctx, undefined));
      return { status: 201, body: departureItem(row, principal, undefined), headers: { Location: `/api/v1/departures/${id}` } };
    },
  }),
];
