/**
 * CrisisManager's tools (capability `crisis`): find the bookings in an incident's time and
 * latitude band (the core keeps those within the radius), tell each traveller once through the
 * message outbox, and escalate to the operators whoever is still silent.
 */
import { z } from 'zod';
import { defineTool, type ToolContext } from '../types';
import { once } from '../outcomes';
import { wakeMessageDispatcher } from '../../activities/messaging/booking-messages';
import { recordCrisisNotices, silentTravellers } from '../../models/crisis';
import { latitudeBand, TRAVELLING_STATUSES, type Candidate } from './core';

const isoDateTime = z.iso.datetime({ offset: true });
/** Bookings recorded per transaction (a big incident is a few short transactions, not one long one). */
const NOTICE_BATCH = 500;

export const findCandidates = defineTool({
  name: 'crisis.findCandidates',
  description: 'Bookings of travellers (confirmed, paid or in progress) on departures that overlap [from, to] and whose tour meets within the latitude band of the radius; each with its tour\'s coordinates.',
  effect: 'read',
  needsApproval: false,
  input: z.object({
    lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180), radiusKm: z.number().positive(), from: isoDateTime, to: isoDateTime,
  }),
  run: async (ctx, input): Promise<Candidate[]> => {
    const band = latitudeBand(input.lat, input.radiusKm);
    const rows = await ctx.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
      .where('d.starts_at', '<', input.to)
      .whereRaw(`d.starts_at + make_interval(mins => t.duration_minutes) > ?`, [input.from])
      .where((q) => q.whereNull('t.meeting_lat').orWhereBetween('t.meeting_lat', [band.min, band.max]))
      .whereIn('b.status', [...TRAVELLING_STATUSES])
      .orderBy('b.reference')
      .limit(10_000)
      .select('b.id', 'b.reference', 'b.status', 'b.contact', 'd.id as departure_id', 'd.status as departure_status', 'd.starts_at', 't.code', 't.duration_minutes', 't.meeting_lat', 't.meeting_lng');
    return rows.map((r) => ({
      bookingId: r.id, reference: r.reference, status: r.status, departureId: r.departure_id, departureStatus: r.departure_status, tourCode: r.code,
      startsAt: new Date(r.starts_at).toISOString(), endsAt: new Date(new Date(r.starts_at).getTime() + r.duration_minutes * 60_000).toISOString(),
      lat: r.meeting_lat === null ? null : Number(r.meeting_lat), lng: r.meeting_lng === null ? null : Number(r.meeting_lng),
      contactName: String(r.contact?.name ?? ''), email: r.contact?.email ?? null, phone: r.contact?.phone ?? null,
    }));
  },
});

const notifyInput = z.object({
  incidentId: z.string().min(1).max(120),
  message: z.string().min(1).max(4000),
  bookingIds: z.array(z.uuid()).min(1).max(5000),
});

export const notifyTravellers = defineTool({
  name: 'crisis.notifyTravellers',
  description: 'Sends each booking\'s contact the incident message with a personal acknowledgement link, once per incident and booking (a repeat sends nothing).',
  effect: 'act',
  // It messages more than one person: a person approves first (the agent's approval defaults to
  // approve after a short wait, so an urgent notice is never stuck in the inbox).
  needsApproval: true,
  input: notifyInput,
  describe: (input) => `Send the crisis notice of incident ${input.incidentId} to ${input.bookingIds.length} traveller(s) (one message per booking, each with its own acknowledgement link): "${input.message.length > 160 ? `${input.message.slice(0, 157)}...` : input.message}"`,
  run: (ctx, input) => once(ctx, 'crisis.notifyTravellers', async () => {
    // Keyed by incident and booking (stronger than the step key: a second run for the incident sends nothing either).
    let notified = 0;
    let unreachable = 0;
    const bookingIds = [...new Set(input.bookingIds)];
    for (let i = 0; i < bookingIds.length; i += NOTICE_BATCH) {
      const told = await recordCrisisNotices(ctx.knex, { incidentId: input.incidentId, bookingIds: bookingIds.slice(i, i + NOTICE_BATCH), runId: ctx.runId, message: input.message, publicUrl: ctx.publicUrl });
      notified += told.told.length;
      unreachable += told.unreachable;
    }
    if (notified) await wakeMessageDispatcher(ctx.temporal);
    return { incidentId: input.incidentId, notified, alreadyNotified: bookingIds.length - notified - unreachable, unreachable };
  }),
});

async function operatorsFor(ctx: ToolContext, branchIds: string[]): Promise<Array<{ id: string; email: string; name: string }>> {
  return ctx.knex('users').where({ active: true })
    .where((q) => q.where('role', 'admin').orWhere((o) => o.where('role', 'operator').where((b) => b.whereNull('branch_id').orWhereIn('branch_id', branchIds))))
    .orderBy('email').select('id', 'email', 'name');
}

export const escalateSilent = defineTool({
  name: 'crisis.escalateSilent',
  description: 'Tells the operators (admins, and the operators of the bookings\' branches) which notified travellers of the incident have not acknowledged, as of now; records the escalation.',
  effect: 'act',
  // Staff alerts, not messages to customers: waiting for a person to approve telling people would defeat it.
  needsApproval: false,
  input: z.object({ incidentId: z.string().min(1).max(120) }),
  run: (ctx, input) => once(ctx, 'crisis.escalateSilent', async () => {
    const outcome = await ctx.knex.transaction(async (trx) => {
      const { notified, silent, branchIds } = await silentTravellers(trx, input.incidentId);
      if (!silent.length) return { incidentId: input.incidentId, notified, silent: 0, operators: 0 };
      const operators = await operatorsFor({ ...ctx, knex: trx }, branchIds);
      const [row] = await trx('crisis_escalations').insert({
        incident_id: input.incidentId, run_id: ctx.runId, step_key: ctx.stepKey, notified, silent: JSON.stringify(silent), recipients: JSON.stringify(operators.map((o) => o.email)),
      }).onConflict('step_key').ignore().returning('id');
      if (!row) return { incidentId: input.incidentId, notified, silent: silent.length, operators: operators.length };
      await trx('crisis_notifications').where({ incident_id: input.incidentId }).whereNull('acknowledged_at').whereIn('booking_id', silent.map((s) => s.bookingId))
        .update({ escalated_at: trx.fn.now() });
      const list = silent.map((s) => `${s.reference} · ${s.contactName} · ${s.recipient}${s.phone && s.phone !== s.recipient ? ` · ${s.phone}` : ''}`).join('\n');
      const firstNotice = silent.map((s) => s.notifiedAt).sort()[0];
      for (const o of operators) {
        await trx('outbox_messages').insert({
          channel: 'email', recipient: o.email, template: 'crisis_escalation', language: 'en',
          data: JSON.stringify({ incident_id: input.incidentId, silent_count: String(silent.length), notified_count: String(notified), notified_at: firstNotice, silent_list: list, first_name: o.name }),
          dedupe_key: `crisis-escalation-${row.id}/${o.id}`,
        }).onConflict('dedupe_key').ignore();
      }
      return { incidentId: input.incidentId, notified, silent: silent.length, operators: operators.length, escalationId: row.id as string, references: silent.map((s) => s.reference) };
    });
    if (outcome.operators) await wakeMessageDispatcher(ctx.temporal);
    return outcome;
  }),
});

export const crisisTools = [findCandidates, notifyTravellers, escalateSilent];
