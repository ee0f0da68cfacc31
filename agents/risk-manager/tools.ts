/**
 * RiskManager's tools: the facts of upcoming departures (passengers, minimums, deadlines,
 * operators, places) and the open incidents (read); and the cancellation of a departure (after
 * approval), which cancels every booking on it through its booking workflow with a full refund.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { defineTool, type ToolContext } from '../types';
import { once } from '../outcomes';
import { steerBookingAs } from '../../services/booking-workflows';
import { cancelUpdate } from '../../workflows/booking-messages';
import { Refused } from '../../domain/refusals';
import { TERMINAL_STATUSES } from '../../domain/bookings';
import type { DepartureRiskFacts, IncidentFacts } from './core';

const DAY = 86_400_000;
const FIRM = ['confirmed', 'paid_in_full'];
const PENDING = ['held', 'awaiting_payment'];
const isoOf = (v: Date | string) => new Date(v).toISOString();
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The tours' coordinates: `lat`/`lng` when the catalog has them, else the meeting point. */
async function coordinateColumns(knex: Knex): Promise<{ lat: string; lng: string }> {
  const cols = await knex('information_schema.columns').where({ table_name: 'tours' }).whereIn('column_name', ['lat', 'lng']).pluck('column_name');
  return cols.length === 2 ? { lat: 'coalesce(t.lat, t.meeting_lat)', lng: 'coalesce(t.lng, t.meeting_lng)' } : { lat: 't.meeting_lat', lng: 't.meeting_lng' };
}

export async function riskFacts(knex: Knex, input: { departureId?: string; days: number }, now: Date): Promise<{ departures: DepartureRiskFacts[]; incidents: IncidentFacts[] }> {
  const coords = await coordinateColumns(knex);
  const q = knex('departures as d')
    .join('tours as t', 't.id', 'd.tour_id')
    .whereIn('d.status', ['scheduled', 'guaranteed'])
    .select('d.id', 'd.starts_at', 'd.capacity', 'd.guarantee_deadline', 't.code', 't.min_departure_pax', 't.duration_minutes',
      knex.raw('coalesce(d.supplier, t.supplier) as supplier'), knex.raw(`${coords.lat} as lat`), knex.raw(`${coords.lng} as lng`),
      knex.raw(`(select coalesce(sum(b.pax_count), 0) from bookings b where b.departure_id = d.id and b.status = any(?)) as firm_pax`, [FIRM]),
      knex.raw(`(select coalesce(sum(b.pax_count), 0) from bookings b where b.departure_id = d.id and b.status = any(?)) as pending_pax`, [PENDING]),
      knex.raw(`(select count(*) from bookings b where b.departure_id = d.id and b.status = any(?)) as bookings`, [[...FIRM, ...PENDING]]),
      knex.raw(`exists (select 1 from approvals a where a.status = 'pending' and a.kind = 'agent_action' and a.data->>'tool' = 'risk.cancelDeparture'
        and a.data->'input'->>'departureId' = d.id::text) as cancellation_pending`))
    .orderBy([{ column: 'd.starts_at' }, { column: 'd.id' }]);
  if (input.departureId) q.where('d.id', input.departureId);
  else q.where('d.starts_at', '>', now).where('d.starts_at', '<', new Date(+now + input.days * DAY)).where('t.status', 'active');
  const rows = await q.limit(5000);
  const departures = rows.map((r): DepartureRiskFacts => ({
    departureId: r.id, tourCode: r.code, startsAt: isoOf(r.starts_at), endsAt: isoOf(new Date(+new Date(r.starts_at) + r.duration_minutes * 60_000)),
    guaranteeDeadline: r.guarantee_deadline ? isoOf(r.guarantee_deadline) : null, minPax: r.min_departure_pax ?? null, capacity: r.capacity,
    firmPax: Number(r.firm_pax), pendingPax: Number(r.pending_pax), bookings: Number(r.bookings), supplier: r.supplier ?? null, lat: num(r.lat), lng: num(r.lng),
    ...(r.cancellation_pending ? { cancellationPending: true } : {}),
  }));
  if (!departures.length) return { departures, incidents: [] };
  const first = departures[0].startsAt;
  const last = departures.reduce((m, d) => (d.endsAt > m ? d.endsAt : m), departures[0].endsAt);
  const incidents = await knex('incidents').where({ status: 'open' }).where('from_at', '<', last).where('to_at', '>', first).orderBy('created_at')
    .select('id', 'kind', 'supplier', 'lat', 'lng', 'radius_km', 'from_at', 'to_at');
  return {
    departures,
    incidents: incidents.map((i): IncidentFacts => ({
      id: i.id, kind: i.kind, supplier: i.supplier, lat: num(i.lat), lng: num(i.lng), radiusKm: num(i.radius_km), from: isoOf(i.from_at), to: isoOf(i.to_at),
    })),
  };
}

export const departureFacts = defineTool({
  name: 'risk.departureFacts',
  description: 'Upcoming departures (or one) with their passengers, the tour\'s departure minimum, guarantee deadline, operator and place, and the open incidents over them.',
  effect: 'read', needsApproval: false,
  input: z.object({ departureId: z.uuid().optional(), days: z.int().min(1).max(120).default(14) }),
  run: (ctx, input) => riskFacts(ctx.knex, input, ctx.now()),
});

const cancelInput = z.object({
  departureId: z.uuid(),
  tourCode: z.string(),
  startsAt: z.iso.datetime({ offset: true }),
  bookings: z.int().min(0),
  reason: z.string().min(1).max(1000),
});

export interface DepartureCancellation {
  departureId: string;
  outcome: 'cancelled' | 'not_cancellable';
  departureStatus: string;
  bookings: Array<{ bookingId: string; reference: string; outcome: string; refundMinor?: number; code?: string; message?: string }>;
}

export const cancelDeparture = defineTool({
  name: 'risk.cancelDeparture',
  description: 'Cancels a departure: marks it cancelled with the reason, and cancels every open booking on it through its booking workflow with a full refund of what was paid; each traveller gets the cancellation message.',
  effect: 'act', needsApproval: true,
  input: cancelInput,
  describe: (i) => `Cancel the ${i.tourCode} departure of ${i.startsAt}: every booking on it (${i.bookings} now) is cancelled with a FULL refund of what was paid, whatever the cancellation policy, and each traveller is told by email. Reason: ${i.reason}`,
  branchOf: async (ctx, i) => (await ctx.knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', i.departureId).first('t.branch_id'))?.branch_id,
  run: (ctx, input) => once(ctx, 'risk.cancelDeparture', () => cancel(ctx, input)),
});

async function cancel(ctx: ToolContext, input: z.output<typeof cancelInput>): Promise<DepartureCancellation> {
  const { knex } = ctx;
  // First the departure, so it takes no new booking while its bookings are cancelled.
  await knex('departures').where({ id: input.departureId }).whereIn('status', ['scheduled', 'guaranteed'])
    .update({ status: 'cancelled', cancellation_reason: input.reason, cancelled_at: knex.fn.now(), updated_at: knex.fn.now() });
  const departure = await knex('departures').where({ id: input.departureId }).first('status');
  if (departure?.status !== 'cancelled') return { departureId: input.departureId, outcome: 'not_cancellable', departureStatus: departure?.status ?? 'missing', bookings: [] };
  await knex('waitlist_entries').where({ departure_id: input.departureId, status: 'waiting' }).update({ status: 'cancelled' });
  const open = await knex('bookings').where({ departure_id: input.departureId }).whereNotIn('status', [...TERMINAL_STATUSES]).orderBy('reference').select('id', 'reference');
  const client = await ctx.temporal();
  const results: DepartureCancellation['bookings'] = [];
  for (const b of open) {
    try {
      // One update per booking, keyed by this call: a retry is the same cancellation, never a second refund.
      const r = await steerBookingAs(client, b.id, cancelUpdate, `${ctx.stepKey}/${b.id}`, { reason: input.reason, actor: null, departureCancelled: true });
      results.push({ bookingId: b.id, reference: b.reference, outcome: r.outcome, refundMinor: r.refundMinor });
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      // Closed meanwhile, or the trip started: nothing to refund here; a person sees it in the output.
      results.push({ bookingId: b.id, reference: b.reference, outcome: 'refused', code: err.code, message: err.message });
    }
  }
  return { departureId: input.departureId, outcome: 'cancelled', departureStatus: 'cancelled', bookings: results };
}
