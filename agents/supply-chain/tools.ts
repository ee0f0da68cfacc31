/**
 * SupplyChain's tools: the bookings a supplier incident hits with the departures they could move
 * to (read), and the move itself (the booking workflow's amendment update, after approval).
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { defineTool, type ToolContext } from '../types';
import { once } from '../outcomes';
import { steerBookingAs } from '../../services/booking-workflows';
import { amendUpdate } from '../../workflows/booking-messages';
import { Refused } from '../../domain/refusals';
import type { AffectedBooking, CandidateDeparture, SupplyFacts } from './core';

const iso = z.iso.datetime({ offset: true });
const OPEN_BOOKINGS = ['held', 'awaiting_payment', 'confirmed', 'paid_in_full'];
const OPEN_DEPARTURES = ['scheduled', 'guaranteed'];
/** Alternatives are looked for this far either side of the affected trips. */
const SEARCH_DAYS = 14;
const DAY = 86_400_000;

/** The operator of a departure: its own supplier, else its tour's. */
export const OPERATOR_SQL = 'lower(coalesce(d.supplier, t.supplier))';
/** The departure runs during [from, to): it starts before `to` and ends after `from`. */
const OVERLAPS_SQL = "d.starts_at < ? and d.starts_at + t.duration_minutes * interval '1 minute' > ?";

const isoOf = (v: Date | string) => new Date(v).toISOString();

export async function supplyFacts(knex: Knex, input: { supplier: string; from: string; to: string }, now: Date): Promise<SupplyFacts> {
  const supplier = input.supplier.trim().toLowerCase();
  const from = new Date(input.from);
  const to = new Date(input.to);
  const rows = await knex('bookings as b')
    .join('departures as d', 'd.id', 'b.departure_id')
    .join('tours as t', 't.id', 'd.tour_id')
    .whereRaw(`${OPERATOR_SQL} = ?`, [supplier])
    .whereRaw(OVERLAPS_SQL, [to, from])
    .whereIn('b.status', OPEN_BOOKINGS)
    .whereIn('d.status', OPEN_DEPARTURES)
    .orderBy([{ column: 'd.starts_at' }, { column: 'b.reference' }])
    .select('b.id', 'b.reference', 'b.status', 'b.branch_id', 'b.pax_count', 'd.id as departure_id', 'd.starts_at', 't.id as tour_id', 't.code',
      't.category', 't.destination_city', 't.destination_country');
  const affected: AffectedBooking[] = rows.map((r) => ({
    bookingId: r.id, reference: r.reference, status: r.status, branchId: r.branch_id, departureId: r.departure_id, tourId: r.tour_id, tourCode: r.code,
    startsAt: isoOf(r.starts_at), paxCount: r.pax_count, category: r.category, destinationCity: r.destination_city, destinationCountry: r.destination_country,
  }));
  if (!affected.length) return { affected, candidates: [] };

  const starts = affected.map((a) => Date.parse(a.startsAt));
  const earliest = new Date(Math.max(+now, Math.min(...starts) - SEARCH_DAYS * DAY));
  const latest = new Date(Math.max(...starts) + SEARCH_DAYS * DAY);
  const tourIds = [...new Set(affected.map((a) => a.tourId))];
  const kinds = [...new Set(affected.map((a) => `${a.category}|${a.destinationCountry}`))];
  const candidates = await knex('departures as d')
    .join('tours as t', 't.id', 'd.tour_id')
    .where('t.status', 'active')
    .whereIn('d.status', OPEN_DEPARTURES)
    .where('d.starts_at', '>', earliest).where('d.starts_at', '<', latest)
    .whereRaw('d.capacity - d.seats_held - d.seats_sold > 0')
    .where((w) => w.whereIn('t.id', tourIds).orWhereRaw(`(t.category || '|' || t.destination_country) = any(?)`, [kinds]))
    // Not one the same incident hits.
    .whereNot((w) => w.whereRaw(`${OPERATOR_SQL} = ?`, [supplier]).whereRaw(OVERLAPS_SQL, [to, from]))
    .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }])
    .limit(1000)
    .select('d.id', 'd.starts_at', 'd.capacity', 'd.seats_held', 'd.seats_sold', 't.id as tour_id', 't.code', 't.category', 't.destination_city', 't.destination_country');
  return {
    affected,
    candidates: candidates.map((c): CandidateDeparture => ({
      departureId: c.id, tourId: c.tour_id, tourCode: c.code, startsAt: isoOf(c.starts_at), seatsLeft: c.capacity - c.seats_held - c.seats_sold,
      category: c.category, destinationCity: c.destination_city, destinationCountry: c.destination_country,
    })),
  };
}

export const findAffected = defineTool({
  name: 'supply.findAffected',
  description: 'The open bookings on departures operated by a supplier between two instants, and the open departures (same tours, similar tours) with room they could move to.',
  effect: 'read', needsApproval: false,
  input: z.object({ supplier: z.string().min(1).max(64), from: iso, to: iso }),
  run: (ctx, input) => supplyFacts(ctx.knex, input, ctx.now()),
});

const rebookInput = z.object({
  bookingId: z.uuid(),
  reference: z.string(),
  tourCode: z.string(),
  paxCount: z.int().positive(),
  fromDepartureId: z.uuid(),
  fromStartsAt: iso,
  toDepartureId: z.uuid(),
  toStartsAt: iso,
});

export type RebookOutcome =
  | { bookingId: string; outcome: 'moved'; departureId: string; bookingStatus: string; totalMinor: number; amountPaidMinor: number; refundMinor: number }
  | { bookingId: string; outcome: 'refused'; code: string; message: string };

export const rebookBooking = defineTool({
  name: 'supply.rebook',
  description: 'Moves a booking to another departure of the same tour through the booking\'s amendment (seats move; the price follows that departure).',
  effect: 'act', needsApproval: true,
  input: rebookInput,
  describe: (i) => `Move booking ${i.reference} (${i.paxCount} passenger(s), tour ${i.tourCode}) from the departure of ${i.fromStartsAt} to the departure of ${i.toStartsAt}; its seats move with it and the traveller is charged or refunded any price difference.`,
  branchOf: async (ctx, i) => (await ctx.knex('bookings').where({ id: i.bookingId }).first('branch_id'))?.branch_id,
  run: (ctx, input) => once(ctx, 'supply.rebook', () => rebook(ctx, input)),
});

async function rebook(ctx: ToolContext, input: z.output<typeof rebookInput>): Promise<RebookOutcome> {
  try {
    // The update id is the step key: a retry of this call is the same amendment.
    const r = await steerBookingAs(await ctx.temporal(), input.bookingId, amendUpdate, ctx.stepKey, { departureId: input.toDepartureId, actor: null });
    return { bookingId: input.bookingId, outcome: 'moved', departureId: r.departureId, bookingStatus: r.bookingStatus, totalMinor: r.totalMinor, amountPaidMinor: r.amountPaidMinor, refundMinor: r.refundMinor };
  } catch (err) {
    // The booking changed since the proposal (cancelled, paying, full): a person takes it from here.
    if (err instanceof Refused) return { bookingId: input.bookingId, outcome: 'refused', code: err.code, message: err.message };
    throw err;
  }
}
