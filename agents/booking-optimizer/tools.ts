/**
 * BookingOptimizer's tools: funnel counts, the abandoned bookings (expired holds) with what we may
 * do about each, and recovery through the existing "hold_expired" automation trigger
 * (activities/automation.ts enrollBookingContact: one enrollment per automation, contact and booking).
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { enrollBookingContact } from '../../activities/automation';
import { taskQueue, taskQueues } from '../../temporal.config';
import { defineTool } from '../types';
import { once } from '../outcomes';
import type { AbandonedBooking, FunnelGroup } from './core';

const scope = z.object({
  sinceDays: z.int().min(1).max(365).default(30).describe('Bookings created (or holds lapsed) in the last N days'),
  tourCodes: z.array(z.string().min(1).max(32)).max(100).optional().describe('Only these tours'),
});

const PAID = `(b.status in ('confirmed', 'paid_in_full', 'in_progress', 'completed', 'no_show') or b.amount_paid_minor > 0)`;
const CHANNEL = `case when b.partner_id is not null then 'partner' when u.role in ('admin', 'operator') then 'staff' else 'web' end`;

export const funnelTool = defineTool({
  name: 'funnel.stats',
  description: 'Booking funnel counts by tour and channel (web, staff, partner): holds, paid, completed and expired, over bookings created in the window.',
  effect: 'read', needsApproval: false,
  input: scope,
  run: async (ctx, input): Promise<FunnelGroup[]> => {
    const since = new Date(+ctx.now() - input.sinceDays * 86_400_000);
    const q = ctx.knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
      .leftJoin('users as u', 'u.id', 'b.created_by_user_id')
      .where('b.created_at', '>=', since)
      .groupByRaw('1, 2').orderByRaw('1, 2')
      .select(ctx.knex.raw('t.code as tour_code'), ctx.knex.raw(`${CHANNEL} as channel`),
        ctx.knex.raw('count(*)::int as holds'), ctx.knex.raw(`count(*) filter (where ${PAID})::int as paid`),
        ctx.knex.raw(`count(*) filter (where b.status = 'completed')::int as completed`), ctx.knex.raw(`count(*) filter (where b.status = 'expired')::int as expired`));
    if (input.tourCodes?.length) q.whereIn('t.code', input.tourCodes);
    const rows = await q;
    return rows.map((r) => ({ tourCode: r.tour_code, channel: r.channel, holds: r.holds, paid: r.paid, completed: r.completed, expired: r.expired }));
  },
});

/** Expired bookings with their contact (as contactForBooking finds it: the customer's, else by email). */
function abandonedQuery(knex: Knex) {
  return knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
    .joinRaw(`left join lateral (select c.id, c.email_sendable from contacts c
      where (b.customer_id is not null and c.customer_id = b.customer_id) or lower(c.email) = lower(b.contact->>'email')
      order by (b.customer_id is not null and c.customer_id = b.customer_id) desc limit 1) c on true`)
    .where('b.status', 'expired');
}

export interface AbandonedFacts { automations: Array<{ id: string; name: string }>; bookings: AbandonedBooking[] }

export const abandonedTool = defineTool({
  name: 'funnel.abandoned',
  description: 'Bookings whose hold lapsed in the window, each with whether its contact may be mailed, is already enrolled in the abandoned-booking automations, or booked again since; and the active abandoned-booking automations.',
  effect: 'read', needsApproval: false,
  input: scope,
  run: async (ctx, input): Promise<AbandonedFacts> => {
    const since = new Date(+ctx.now() - input.sinceDays * 86_400_000);
    const automations = await ctx.knex('automations').where({ trigger: 'hold_expired', status: 'active' }).orderBy('created_at').select('id', 'name');
    const q = abandonedQuery(ctx.knex)
      .whereRaw('coalesce(b.hold_expires_at, b.updated_at) >= ?', [since])
      .orderBy('b.reference')
      .select('b.id', 'b.reference', 't.code', ctx.knex.raw(`b.contact->>'email' as email`), ctx.knex.raw('coalesce(c.email_sendable, false) as sendable'),
        ctx.knex.raw(`c.id is not null and not exists (select 1 from automations a where a.trigger = 'hold_expired' and a.status = 'active'
          and not exists (select 1 from automation_enrollments e where e.automation_id = a.id and e.contact_id = c.id and e.occasion = b.id::text)) as enrolled`),
        ctx.knex.raw(`exists (select 1 from bookings b2 where lower(b2.contact->>'email') = lower(b.contact->>'email') and b2.created_at > b.created_at
          and b2.status not in ('expired', 'failed')) as rebooked`));
    if (input.tourCodes?.length) q.whereIn('t.code', input.tourCodes);
    const rows = await q;
    return {
      automations,
      bookings: rows.map((r) => ({ bookingId: r.id, reference: r.reference, tourCode: r.code, email: r.email, sendable: r.sendable, enrolled: r.enrolled, rebooked: r.rebooked })),
    };
  },
});

export const recoverTool = defineTool({
  name: 'funnel.recoverAbandoned',
  description: 'Fires the abandoned-booking automation trigger (hold_expired) for each listed expired booking: its contact is enrolled once per booking in every active abandoned-booking automation, only while they may be mailed.',
  effect: 'act', needsApproval: true,
  input: z.object({
    bookings: z.array(z.object({ bookingId: z.uuid(), reference: z.string(), email: z.string(), tourCode: z.string() })).min(1).max(500),
    automations: z.array(z.string()).min(1),
  }),
  describe: (input) => [
    `Enroll ${input.bookings.length} ${input.bookings.length === 1 ? 'person' : 'people'} whose hold lapsed in the abandoned-booking automation${input.automations.length === 1 ? '' : 's'} ${input.automations.map((a) => `"${a}"`).join(', ')}, which will email them; once per booking, and only those who still consent to email:`,
    ...input.bookings.map((b) => `- ${b.email} (${b.reference}, ${b.tourCode})`),
  ].join('\n'),
  run: (ctx, input) => once(ctx, 'funnel.recoverAbandoned', async () => {
    const enrolled: string[] = [];
    const alreadyEnrolled: string[] = [];
    const skipped: Array<{ bookingId: string; why: string }> = [];
    for (const b of input.bookings) {
      // Consent may have changed since the proposal: look again.
      const row = await abandonedQuery(ctx.knex).where('b.id', b.bookingId).first(ctx.knex.raw('coalesce(c.email_sendable, false) as sendable'));
      if (!row) { skipped.push({ bookingId: b.bookingId, why: 'not an expired booking' }); continue; }
      if (!row.sendable) { skipped.push({ bookingId: b.bookingId, why: 'no email consent' }); continue; }
      // Enrollment is unique per (automation, contact, booking): a retry enrolls nobody twice.
      const fresh = await enrollBookingContact(ctx.knex, ctx.temporal, taskQueue(taskQueues.marketing), b.bookingId, 'hold_expired');
      (fresh > 0 ? enrolled : alreadyEnrolled).push(b.bookingId);
    }
    return { enrolled, alreadyEnrolled, skipped };
  }),
});
