/**
 * Bookings: the hold (answered from the database, so it is fast and never oversells), the
 * lifecycle steered through the booking workflow (pay, cancel, approvals), lists and the
 * timeline. Who sees what: customers their own, partners their own, operators their branch's
 * (and what they created), accountants their branch's, admins all.
 */
import type Koa from 'koa';
import type { Knex } from 'knex';
import prom from 'prom-client';
import { z } from 'zod';
import { placeHold, HoldRefused, type HoldRefusal } from '../../models/holds';
import { dueOf, netPaidByBooking } from '../../models/console';
import { amountDue, ledgerOf } from '../../domain/ledger';
import { auditActor, recordAudit } from '../../models/audit';
import { amendUpdate, cancelUpdate, payUpdate, viewQuery, bookingWorkflowId } from '../../workflows/booking-messages';
import type { Principal } from '../auth';
import { startBookingWorkflow, steerBookingAs, steerBookingWithin } from '../../services/booking-workflows';
import { config } from '../../platform/config';
import { updateIdFor } from '../http/idempotency';
import { BOOKING_STATUSES, isTerminalStatus, PAX_TYPES, PAYMENT_PROVIDERS, PAYMENT_RECORD_PROVIDERS } from '../../domain/bookings';
import { registry } from '../metrics';
import { decodeCursor, page } from '../http/cursor';
import { notFound, Problem, REFUSAL_STATUS } from '../http/problem';
import { HOLD_REFUSALS, type HoldRefusalCode } from '../../domain/refusals';
import { holdRateLimits } from '../http/rate-limit';
import { route } from '../http/routes';
import { cursor, dateOrDateTime, day, idParams, language, limit, listOf, timestamp as at, uuid } from '../schemas';

/** The hold's own start of its workflow, after the answer: started (or already running) / failed (housekeeping relays it). */
export const bookingWorkflowStarts = new prom.Counter({
  name: 'spirit_booking_workflow_starts_total',
  help: 'Booking workflow starts the API made right after a hold, by outcome (failed: left to the housekeeping relay)',
  labelNames: ['outcome'],
  registers: [registry],
});
const e164 = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 phone number such as +34600111222');
const name = z.string().trim().min(1, 'is required').max(80);

const holdBody = z.object({
  departureId: uuid,
  passengers: z.array(z.object({
    type: z.enum(PAX_TYPES),
    firstName: name,
    lastName: name,
    birthDate: z.iso.date().optional(),
  }).strict()).min(1, 'at least one passenger').max(50),
  contact: z.object({ name: z.string().trim().min(1).max(120), email: z.email({ error: 'must be an email address' }).max(254), phone: e164.optional() }).strict(),
  promoCode: z.string().trim().min(1).max(32).optional(),
  language: language.optional(),
  customerId: uuid.optional().describe('Staff only: the customer booked for (default: found or created from the contact email)'),
  onAccount: z.boolean().optional().describe('Partners only: charge the partner\'s credit line instead of paying now'),
}).strict();

const bookingStatus = z.enum(BOOKING_STATUSES);
const purpose = z.enum(['deposit', 'balance', 'full']);

const bookingSchema = z.object({
  object: z.literal('booking'), id: uuid, reference: z.string(), status: bookingStatus, departureId: uuid, branchId: uuid,
  customerId: uuid.nullable(), partnerId: uuid.nullable(), paxCount: z.int(),
  paymentPlan: z.enum(['full', 'deposit', 'on_account']),
  price: z.object({
    currency: z.string().length(3),
    total: z.int().describe('Minor units, what the customer pays'),
    net: z.int().describe('Minor units, what a partner pays (total less commission)'),
    commission: z.int(), deposit: z.int(), paid: z.int(), refunded: z.int(),
    netPaid: z.int().describe('paid less refunded'),
    due: z.int().describe('What is still to pay (the net for a partner\'s booking), never negative'),
    breakdown: z.record(z.string(), z.unknown()).describe('How the price was made (per pax type, rules, promo)'),
  }),
  holdExpiresAt: at.nullable(), balanceDueOn: day.nullable(),
  contact: z.object({ name: z.string(), email: z.string(), phone: z.string().optional() }),
  language, promoCode: z.string().nullable(), failureReason: z.string().nullable(), createdAt: at, updatedAt: at,
}).meta({ id: 'Booking' });

const bookingDetailSchema = bookingSchema.extend({
  passengers: z.array(z.object({ id: uuid, type: z.enum(PAX_TYPES), firstName: z.string(), lastName: z.string(), birthDate: day.nullable() })),
  items: z.array(z.object({
    position: z.int(), kind: z.enum(['tour', 'hotel', 'flight', 'discount', 'fee']), description: z.string(), quantity: z.int(),
    unitAmount: z.int(), totalAmount: z.int(), status: z.enum(['pending', 'confirmed', 'cancelled', 'failed']),
  })),
  payments: z.array(z.object({
    id: uuid, provider: z.enum(PAYMENT_RECORD_PROVIDERS), purpose,
    status: z.enum(['pending', 'requires_action', 'authorized', 'captured', 'failed', 'voided', 'refunded', 'partially_refunded']),
    amount: z.int(), currency: z.string(), failureReason: z.string().nullable(), createdAt: at,
  })),
  refunds: z.array(z.object({
    id: uuid, paymentId: uuid.nullable(), amount: z.int(), currency: z.string(),
    status: z.enum(['pending', 'awaiting_approval', 'succeeded', 'failed', 'rejected']), reason: z.string().nullable(), createdAt: at,
  })),
  timeline: z.array(z.object({ type: z.string().describe('e.g. booking.held, payment.captured'), at, actor: z.string().nullable(), data: z.unknown() })),
}).meta({ id: 'BookingDetail' });

const liveSchema = {
  pendingAction: z.object({ paymentId: z.string(), actionUrl: z.string() }).nullable().describe('A payment waiting for the customer (3-D Secure, PayPal)'),
  pendingApproval: z.object({ approvalId: z.string(), refundMinor: z.int(), reason: z.string() }).nullable().describe('A refund waiting for a manager'),
  nextMilestone: z.object({ kind: z.string(), at: z.string() }).nullable().describe('What the workflow waits for next (hold expiry, balance due, ...)'),
  workflowId: z.string().nullable().describe('Staff only: the booking workflow\'s id in Temporal (open it in the Temporal UI: GET /api/v1/console/settings)'),
};

const paymentFields = {
  object: z.literal('payment'), id: z.string().optional(), provider: z.enum(PAYMENT_PROVIDERS), purpose: purpose.optional(), amount: z.int().optional(),
  currency: z.string(), bookingId: uuid, bookingStatus: bookingStatus.optional(),
};
const paymentCaptured = z.object({ ...paymentFields, status: z.literal('captured') });
const paymentPending = z.discriminatedUnion('status', [
  z.object({ ...paymentFields, status: z.literal('requires_action'), actionUrl: z.string().describe('Where the customer confirms the payment') }),
  z.object({
    ...paymentFields, status: z.literal('pending_review'), approvalId: z.string().optional(), reviewExpiresAt: z.string().nullable(),
    fraud: z.object({ score: z.number().nullable(), signals: z.array(z.object({ name: z.string(), points: z.number(), detail: z.string() })) }),
    detail: z.string(),
  }),
  z.object({
    object: z.literal('payment'), status: z.literal('processing'), provider: z.enum(PAYMENT_PROVIDERS), currency: z.string(), bookingId: uuid, bookingUrl: z.string(),
    retryWithSameIdempotencyKey: z.boolean().describe('Whether the request carried an Idempotency-Key to repeat it with'),
  }),
]);

const cancellationFields = {
  object: z.literal('cancellation'), bookingId: uuid, bookingStatus,
  refund: z.object({ amount: z.int(), currency: z.string(), percent: z.number().describe('Of what was paid, by the policy tier') }),
  daysBeforeDeparture: z.number(),
};

const waitlistEntryStatus = z.enum(['waiting', 'offered', 'booked', 'expired', 'cancelled']);

/** The message of each hold refusal; its status comes from its kind (domain/refusals.ts HOLD_REFUSALS). */
const HOLD_MESSAGE: Record<HoldRefusalCode, (r: HoldRefusal) => string> = {
  departure_not_found: () => 'No departure with that id.',
  departure_closed: (r) => `This departure is ${(r as { status: string }).status}; it takes no bookings.`,
  departure_started: () => 'This departure has already started.',
  too_many_passengers: (r) => `This tour takes at most ${(r as { maxPax: number }).maxPax} passengers per booking.`,
  too_few_passengers: (r) => `This tour needs at least ${(r as { minPax: number }).minPax} passengers per booking.`,
  sold_out: () => 'This departure is sold out. You can join its waitlist.',
  not_enough_seats: (r) => `Only ${(r as { seatsAvailable: number }).seatsAvailable} seats are left on this departure.`,
  promo_code_invalid: () => 'This promo code does not exist, has expired or has been used up.',
  pax_type_not_offered: (r) => (r as { message: string }).message,
  passenger_age_mismatch: (r) => (r as { message: string }).message,
  adult_required: () => 'Every booking needs at least one adult passenger.',
  credit_limit_exceeded: (r) => `This booking exceeds the partner's credit line (${(r as { availableMinor: number }).availableMinor} minor units left); pay now instead.`,
  partner_suspended: () => 'This partner account is suspended.',
};

/** The bookings a principal may see, as a where-clause on `bookings as b`. */
function scope(q: Knex.QueryBuilder, p: Principal): Knex.QueryBuilder {
  switch (p.role) {
    case 'admin': return q;
    case 'customer': return q.where('b.customer_id', p.customerId);
    case 'partner': return q.where('b.partner_id', p.partnerId);
    case 'operator': return q.where((w) => w.where('b.branch_id', p.branchId).orWhere('b.created_by_user_id', p.userId));
    case 'accountant': return q.where('b.branch_id', p.branchId); // an accountant without a branch sees none (never all)
    default: return q.whereRaw('false');
  }
}

export async function visibleBooking(ctx: Koa.Context, p: Principal, id: string) {
  const row = await scope(ctx.knex('bookings as b'), p).where('b.id', id).first('b.*');
  if (!row) throw notFound('booking', id); // also for bookings that exist but are not theirs: no leak
  return row;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Row = Record<string, any>;
const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

function bookingItem(b: Row) {
  return {
    object: 'booking' as const, id: b.id, reference: b.reference, status: b.status, departureId: b.departure_id, branchId: b.branch_id,
    customerId: b.customer_id, partnerId: b.partner_id, paxCount: b.pax_count, paymentPlan: b.payment_plan,
    price: {
      currency: b.currency, total: b.total_minor, net: b.net_minor, commission: b.commission_minor, deposit: b.deposit_minor,
      paid: b.amount_paid_minor, refunded: b.amount_refunded_minor, netPaid: b.amount_paid_minor - b.amount_refunded_minor,
      due: Math.max(0, (b.partner_id ? b.net_minor : b.total_minor) - (b.amount_paid_minor - b.amount_refunded_minor)),
      breakdown: b.price_breakdown,
    },
    holdExpiresAt: iso(b.hold_expires_at), balanceDueOn: b.balance_due_on, contact: b.contact, language: b.language,
    promoCode: b.promo_code, failureReason: b.failure_reason, createdAt: iso(b.created_at), updatedAt: iso(b.updated_at),
  };
}

async function bookingDetail(ctx: Koa.Context, b: Row) {
  const [passengers, items, payments, refunds, events] = await Promise.all([
    ctx.knex('passengers').where({ booking_id: b.id }).orderBy('id'),
    ctx.knex('booking_items').where({ booking_id: b.id }).orderBy('position'),
    ctx.knex('payments').where({ booking_id: b.id }).orderBy('created_at'),
    ctx.knex('refunds').where({ booking_id: b.id }).orderBy('created_at'),
    ctx.knex('booking_events').where({ booking_id: b.id }).orderBy('id'),
  ]);
  const detail = renderDetail(b, { passengers, items, payments, refunds, events });
  // The page a person reads shows money from the ledger rows it lists, never from the counters.
  const ledger = ledgerOf(
    payments.map((p) => ({ id: p.id, status: p.status, amountMinor: Number(p.amount_minor) })),
    refunds.map((r) => ({ paymentId: r.payment_id, status: r.status, amountMinor: Number(r.amount_minor) })),
  );
  // A booking that ended without travelling owes nothing more.
  const payable = ['cancelled', 'expired', 'failed'].includes(b.status) ? 0 : Number(b.partner_id ? b.net_minor : b.total_minor);
  return { ...detail, price: { ...detail.price, paid: ledger.capturedMinor, refunded: ledger.refundedMinor, netPaid: ledger.netPaidMinor, due: amountDue(payable, ledger) } };
}

function renderDetail(b: Row, { passengers, items, payments, refunds, events }: Record<'passengers' | 'items' | 'payments' | 'refunds' | 'events', Row[]>) {
  return {
    ...bookingItem(b),
    passengers: passengers.map((p) => ({ id: p.id, type: p.pax_type, firstName: p.first_name, lastName: p.last_name, birthDate: p.birth_date })),
    items: items.map((i) => ({ position: i.position, kind: i.kind, description: i.description, quantity: i.quantity, unitAmount: i.unit_minor, totalAmount: i.total_minor, status: i.status })),
    payments: payments.map((p) => ({ id: p.id, provider: p.provider, purpose: p.purpose, status: p.status, amount: p.amount_minor, currency: p.currency, failureReason: p.failure_reason, createdAt: iso(p.created_at) })),
    refunds: refunds.map((r) => ({ id: r.id, paymentId: r.payment_id, amount: r.amount_minor, currency: r.currency, status: r.status, reason: r.reason, createdAt: iso(r.created_at) })),
    timeline: events.map((e) => ({ type: e.type, at: iso(e.occurred_at), actor: e.actor, data: e.data })),
  };
}

async function customerFor(ctx: Koa.Context, p: Principal, body: z.output<typeof holdBody>): Promise<string | null> {
  if (p.role === 'customer') return p.customerId;
  if (p.role === 'partner') return null;
  if (body.customerId) {
    const found = await ctx.knex('customers').where({ id: body.customerId }).first('id');
    if (!found) throw new Problem(400, 'validation_failed', 'No customer with that id.', { param: 'customerId' });
    return found.id;
  }
  const [first, ...rest] = body.contact.name.split(/\s+/);
  const inserted = await ctx.knex.raw(
    `insert into customers (first_name, last_name, email, phone, language) values (?, ?, ?, ?, ?)
     on conflict (lower(email)) where partner_id is null do update set updated_at = now() returning id`,
    [first, rest.join(' ') || '-', body.contact.email, body.contact.phone ?? null, body.language ?? 'en'],
  );
  return inserted.rows[0].id;
}

export const bookingRoutes = [
  route({
    method: 'POST', path: '/api/v1/bookings', operationId: 'createBooking', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'admin'],
    summary: 'Hold seats: answers with the booking (status held) or why it cannot be held',
    description: 'The seats are taken in one database transaction that can never oversell. The booking\'s workflow then runs its lifecycle; pay within the hold (holdExpiresAt).',
    idempotent: true,
    body: holdBody,
    rateLimit: holdRateLimits,
    responses: { 201: { description: 'Held', schema: bookingDetailSchema }, 409: { description: 'Sold out, not enough seats, closed, too many passengers, credit line exceeded' }, 422: { description: 'Promo code or passenger type not accepted' }, 429: { description: 'Too many holds or promo code tries by this user (Retry-After)' } },
    handler: async (ctx, { body, principal }) => {
      const p = principal!;
      if (body.onAccount && p.role !== 'partner') throw new Problem(400, 'validation_failed', 'Only partners book on account.', { param: 'onAccount' });
      if (body.customerId && !['operator', 'admin'].includes(p.role)) throw new Problem(400, 'validation_failed', 'Only staff may book for another customer.', { param: 'customerId' });
      const customerId = await customerFor(ctx, p, body);
      let hold;
      try {
        hold = await placeHold(ctx.knex, {
          departureId: body.departureId, passengers: body.passengers, contact: body.contact, promoCode: body.promoCode,
          language: body.language ?? ((ctx.acceptsLanguages('en', 'es') || 'en') as 'es' | 'en'),
          customerId, partnerId: p.role === 'partner' ? p.partnerId : null, onAccount: body.onAccount ?? false, createdByUserId: p.userId,
        });
      } catch (err) {
        if (err instanceof HoldRefused) {
          const { code, ...details } = err.refusal;
          throw new Problem(REFUSAL_STATUS[HOLD_REFUSALS[code]], code, HOLD_MESSAGE[code](err.refusal), { ...details, ...(code === 'promo_code_invalid' ? { param: 'promoCode' } : {}) });
        }
        throw err;
      }
      // The hold is committed and its row is the outbox: the answer does not wait for the workflow.
      // The start begins once the answer is written (its gRPC work is not on this request's path);
      // one that fails is logged and counted, and housekeeping starts it (startPendingBookingWorkflows).
      // A `pay` before the workflow exists starts it itself (update-with-start); a start is by
      // booking id, so the three can never start two workflows for one booking.
      const log = ctx.state.log;
      ctx.res.once('close', () => {
        ctx.temporalClient().then((client) => startBookingWorkflow(client, hold.bookingId)).then(
          () => bookingWorkflowStarts.inc({ outcome: 'started' }),
          (err) => {
            bookingWorkflowStarts.inc({ outcome: 'failed' });
            log.warn({ err: (err as Error).message, bookingId: hold.bookingId }, 'booking workflow not started yet; housekeeping will start it');
          },
        );
      });
      // Answered from the rows the hold wrote (no payments or refunds yet): six round trips fewer per hold.
      const { booking, passengers, items, events } = hold.rows;
      const byId = (a: Row, b: Row) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      const detail = renderDetail(booking, { passengers: [...passengers].sort(byId), items, payments: [], refunds: [], events });
      return { status: 201, body: detail, headers: { Location: `/api/v1/bookings/${hold.bookingId}` } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/bookings', operationId: 'listBookings', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'accountant', 'admin'],
    summary: 'Bookings you may see, newest first, with filters',
    query: z.object({
      status: z.enum(BOOKING_STATUSES).optional(),
      departureFrom: dateOrDateTime.optional(),
      departureTo: dateOrDateTime.optional(),
      departureId: uuid.optional(),
      customerId: uuid.optional(),
      partnerId: uuid.optional(),
      branch: z.string().min(2).max(16).optional(),
      reference: z.string().max(16).optional(),
      q: z.string().trim().min(1).max(100).optional().describe('Reference prefix, or part of the contact\'s name or email (case- and accent-insensitive)'),
      limit,
      cursor,
    }),
    responses: { 200: { description: 'A page of bookings', schema: listOf(bookingSchema.extend({ departureStartsAt: at, departureTimeZone: z.string().describe('IANA time zone of the departure: its local time is the one to show'), tourTitle: z.string(), branch: z.string(), amountDue: z.int().describe('Minor units still to pay, from the ledger') })) } },
    handler: async (ctx, { query, principal }) => {
      const q = scope(ctx.knex('bookings as b'), principal!).join('departures as d', 'd.id', 'b.departure_id')
        .join('tours as t', 't.id', 'd.tour_id').join('branches as br', 'br.id', 'b.branch_id')
        .leftJoin('tour_translations as te', (j) => j.on('te.tour_id', 't.id').andOnVal('te.language', 'en'))
        .select('b.*', 'd.starts_at', 'd.timezone as departure_timezone', 'br.code as branch_code', ctx.knex.raw('coalesce(te.title, t.code) as tour_title')).orderBy([{ column: 'b.created_at', order: 'desc' }, { column: 'b.id', order: 'desc' }]).limit(query.limit + 1);
      if (query.status) q.where('b.status', query.status);
      if (query.departureFrom) q.where('d.starts_at', '>=', new Date(query.departureFrom));
      if (query.departureTo) q.where('d.starts_at', '<', new Date(query.departureTo));
      if (query.departureId) q.where('b.departure_id', query.departureId);
      if (query.customerId) q.where('b.customer_id', query.customerId);
      if (query.partnerId) q.where('b.partner_id', query.partnerId);
      if (query.reference) q.where('b.reference', query.reference.toUpperCase());
      if (query.q) {
        // Both sides of each match have an index (migrations/20261202000900_console_data.ts).
        const like = query.q.replace(/[\\%_]/g, '\\$&');
        q.where((w) => w.whereRaw('b.reference like ?', [`${like.toUpperCase()}%`])
          .orWhereRaw(`console_fold(coalesce(b.contact->>'name', '') || ' ' || coalesce(b.contact->>'email', '')) like '%' || console_fold(?) || '%'`, [like]));
      }
      if (query.branch) q.whereIn('b.branch_id', ctx.knex('branches').select('id').where('code', query.branch.toUpperCase()));
      if (query.cursor) {
        const [at, id] = decodeCursor(query.cursor, ['timestamp', 'uuid']);
        if (typeof at !== 'string' || !uuid.safeParse(id).success) throw new Problem(400, 'invalid_cursor', 'The cursor is not one this API returned.', { param: 'cursor' });
        q.whereRaw('(b.created_at, b.id) < (?::timestamptz, ?::uuid)', [at, id as string]);
      }
      const rows: Row[] = await q;
      const paid = await netPaidByBooking(ctx.knex, rows.map((r) => r.id));
      return { body: page(rows, query.limit, (r) => ({ ...bookingItem(r), departureStartsAt: iso(r.starts_at), departureTimeZone: r.departure_timezone, tourTitle: r.tour_title, branch: r.branch_code, amountDue: dueOf(r, paid.get(r.id) ?? 0) }), (r) => [new Date(r.created_at).toISOString(), r.id]) };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/bookings/{id}', operationId: 'getBooking', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'accountant', 'admin'],
    summary: 'A booking with passengers, items, payments, refunds and its timeline',
    params: idParams,
    responses: { 200: { description: 'The booking', schema: bookingDetailSchema.extend(liveSchema) }, 404: { description: 'No such booking (or not yours)' } },
    handler: async (ctx, { params, principal }) => {
      const b = await visibleBooking(ctx, principal!, params.id);
      const detail = await bookingDetail(ctx, b);
      let live = null;
      if (!isTerminalStatus(b.status)) {
        try {
          const client = await ctx.temporalClient();
          live = await client.workflow.getHandle(bookingWorkflowId(b.id)).query(viewQuery);
        } catch {
          live = null; // not started yet, or Temporal unreachable: the record above is still true
        }
      }
      const staff = ['admin', 'operator', 'accountant'].includes(principal!.role);
      return { body: { ...detail, pendingAction: live?.pendingAction ?? null, pendingApproval: live?.pendingApproval ?? null, nextMilestone: live?.nextMilestone ?? null, workflowId: staff ? bookingWorkflowId(b.id) : null } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/bookings/{id}/payments', operationId: 'payBooking', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'admin'],
    summary: 'Pay the deposit, the full amount or the balance (whichever is due)',
    description: 'Sandbox test methods: pm_card_visa (succeeds), pm_card_chargeDeclined (declined), pm_card_authenticationRequired (the customer confirms on the hosted page at actionUrl). '
      + 'Say what you pay (`purpose`, `amount`) and send an Idempotency-Key: a retry with the same key is the same payment (never a second one), and a request whose purpose or amount is no longer what is due is refused (409 payment_mismatch) instead of paying something else. '
      + 'When the payment takes longer than a few seconds the answer is 202 with status "processing": repeat the request with the same Idempotency-Key for its outcome, or read the booking.',
    params: idParams,
    idempotent: true,
    body: z.object({
      provider: z.enum(PAYMENT_PROVIDERS).default('sandbox'),
      paymentMethod: z.string().min(1).max(255),
      purpose: z.enum(['deposit', 'balance', 'full']).optional().describe('What this pays; refused if it is no longer what is due'),
      amount: z.int().positive().optional().describe('The amount in minor units you expect to pay; refused if it is not what is due'),
    }).strict(),
    responses: {
      201: { description: 'Paid; the booking is confirmed or paid in full', schema: paymentCaptured },
      202: { description: 'The customer must act (3-D Secure, PayPal approval) at actionUrl; with status "pending_review", FraudGuardian put the payment in the approvals inbox (the seats stay held until it is decided); or, with status "processing", the payment is still under way: repeat with the same Idempotency-Key', schema: paymentPending },
      402: { description: 'Declined (payment_declined; the hold stays until it expires, so another payment method can be tried), or refused as suspected fraud (fraud_suspected, with the score and its signals; nothing authorized)' },
      409: { description: 'Nothing to pay, not what is due (payment_mismatch), a payment already in progress, the booking is closed, or a supplier failed (payment voided)' },
      503: { description: 'The payment provider did not answer; nothing was captured; try again' },
      422: { description: 'The provider is not enabled here (provider_not_configured)' },
    },
    handler: async (ctx, { params, body, principal }) => {
      if (!ctx.paymentProviders.includes(body.provider)) {
        throw new Problem(422, 'provider_not_configured', `The payment provider "${body.provider}" is not enabled here; enabled: ${ctx.paymentProviders.join(', ') || 'none'}.`, { param: 'provider' });
      }
      const b = await visibleBooking(ctx, principal!, params.id);
      const client = await ctx.temporalClient();
      const answer = await steerBookingWithin(client, b.id, payUpdate, { updateId: updateIdFor(ctx, principal), answerWithinMs: config.paymentAnswerWithinMs }, {
        provider: body.provider, paymentMethod: body.paymentMethod, actor: principal!.userId, purpose: body.purpose, amountMinor: body.amount,
        // The client's address (X-Forwarded-For only with TRUST_PROXY=1): FraudGuardian's velocity and country signals.
        clientIp: ctx.ip || null,
      });
      if (!answer.done) {
        return {
          status: 202, provisional: true,
          headers: { 'Retry-After': '2', Location: `/api/v1/bookings/${b.id}` },
          body: { object: 'payment', status: 'processing', provider: body.provider, currency: b.currency, bookingId: b.id, bookingUrl: `/api/v1/bookings/${b.id}`, retryWithSameIdempotencyKey: Boolean(ctx.get('idempotency-key')) },
        };
      }
      const result = answer.result;
      const payment = { object: 'payment', id: result.paymentId, provider: body.provider, purpose: result.purpose, amount: result.amountMinor, currency: b.currency, bookingId: b.id, bookingStatus: result.bookingStatus };
      switch (result.outcome) {
        case 'succeeded': return { status: 201, body: { ...payment, status: 'captured' } };
        case 'requires_action': return { status: 202, body: { ...payment, status: 'requires_action', actionUrl: result.actionUrl } };
        case 'review':
          // Nothing is authorized yet: a person decides; the seats stay held until then.
          return {
            status: 202,
            body: {
              ...payment, status: 'pending_review', approvalId: result.fraud?.approvalId, reviewExpiresAt: result.fraud?.expiresAt ?? null,
              fraud: { score: result.fraud?.score ?? null, signals: result.fraud?.signals ?? [] },
              detail: 'The payment waits for a review; nothing is charged until it is approved. The seats stay held until it is decided.',
            },
          };
        case 'refused':
          throw new Problem(402, 'fraud_suspected', `The payment was refused as suspected fraud (score ${result.fraud?.score}); nothing was charged. ${String(result.reason)}.`, {
            bookingStatus: result.bookingStatus, score: result.fraud?.score ?? null, signals: result.fraud?.signals ?? [],
          });
        case 'declined': {
          const retry = result.bookingStatus === 'held' ? ' The seats stay held until the hold expires: try another payment method.' : '';
          throw new Problem(402, 'payment_declined', `The payment was declined: ${String(result.reason).replace(/\.+$/, '')}.${retry}`, { declineCode: result.code, bookingStatus: result.bookingStatus, paymentId: result.paymentId });
        }
        default: throw new Problem(409, 'booking_failed', `The booking could not be completed: ${result.reason}. The payment was voided; nothing was charged.`, { bookingStatus: result.bookingStatus, paymentId: result.paymentId });
      }
    },
  }),
  route({
    method: 'POST', path: '/api/v1/bookings/{id}/cancel', operationId: 'cancelBooking', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'admin'],
    summary: 'Cancel, refunding by the policy tiers; big or late refunds wait for a manager',
    params: idParams,
    idempotent: true,
    body: z.object({ reason: z.string().trim().min(1).max(500).default('cancelled by request') }).strict().optional().default({ reason: 'cancelled by request' }),
    responses: {
      200: { description: 'Cancelled, with the refund', schema: z.object({ ...cancellationFields, status: z.literal('cancelled') }) },
      202: { description: 'Waiting for a manager\'s approval of the refund', schema: z.object({ ...cancellationFields, status: z.literal('pending_approval'), approvalId: z.string().optional(), approvalReason: z.string().optional() }) },
      409: { description: 'Already closed, trip started, or a cancellation is pending' } },
    handler: async (ctx, { params, body, principal }) => {
      const b = await visibleBooking(ctx, principal!, params.id);
      const client = await ctx.temporalClient();
      const result = await steerBookingAs(client, b.id, cancelUpdate, updateIdFor(ctx, principal), { reason: body?.reason ?? 'cancelled by request', actor: principal!.userId });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'booking.cancel', entityType: 'booking', entityId: b.id, data: { reason: body?.reason ?? null, outcome: result.outcome, refundMinor: result.refundMinor, approvalId: result.approvalId ?? null } });
      const out = { object: 'cancellation', bookingId: b.id, bookingStatus: result.bookingStatus, refund: { amount: result.refundMinor, currency: b.currency, percent: result.refundBp / 100 }, daysBeforeDeparture: result.daysBefore };
      if (result.outcome === 'pending_approval') {
        return { status: 202, body: { ...out, status: 'pending_approval', approvalId: result.approvalId, approvalReason: result.approvalReason } };
      }
      return { status: 200, body: { ...out, status: 'cancelled' } };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/bookings/{id}/amendments', operationId: 'amendBooking', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'admin'],
    summary: 'Change the passengers and/or move to another departure of the same tour',
    description: 'Seats are taken on the new departure before they are given back, in one transaction; the booking is repriced. If it now costs less than was paid, the difference is refunded; if more, the balance is due (pay it with /payments).',
    params: idParams,
    idempotent: true,
    body: z.object({
      passengers: holdBody.shape.passengers.optional(),
      departureId: uuid.optional(),
    }).strict().refine((b) => b.passengers || b.departureId, { message: 'give passengers, departureId, or both', path: ['passengers'] }),
    responses: {
      200: {
        description: 'Amended',
        schema: z.object({
          object: z.literal('amendment'), bookingId: uuid, bookingStatus, departureId: uuid, paxCount: z.int(),
          price: z.object({ currency: z.string(), total: z.int(), payable: z.int(), paid: z.int().describe('Net paid after this amendment\'s refund'), due: z.int() }),
          refund: z.object({ amount: z.int(), currency: z.string() }),
        }),
      },
      409: { description: 'Not enough seats, another tour, closed booking, or a payment/cancellation in progress' } },
    handler: async (ctx, { params, body, principal }) => {
      const b = await visibleBooking(ctx, principal!, params.id);
      const client = await ctx.temporalClient();
      const result = await steerBookingAs(client, b.id, amendUpdate, updateIdFor(ctx, principal), { passengers: body.passengers, departureId: body.departureId, actor: principal!.userId });
      await recordAudit(ctx.knex, { ...auditActor(ctx), action: 'booking.amend', entityType: 'booking', entityId: b.id, data: { departureId: body.departureId ?? null, paxCount: result.paxCount, totalMinor: result.totalMinor, refundMinor: result.refundMinor } });
      return {
        body: {
          object: 'amendment', bookingId: b.id, bookingStatus: result.bookingStatus, departureId: result.departureId, paxCount: result.paxCount,
          price: { currency: b.currency, total: result.totalMinor, payable: result.payableMinor, paid: result.amountPaidMinor, due: Math.max(0, result.payableMinor - result.amountPaidMinor) },
          refund: { amount: result.refundMinor, currency: b.currency },
        },
      };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/departures/{id}/waitlist', operationId: 'joinWaitlist', tag: 'Bookings', auth: ['customer', 'operator', 'partner', 'admin'],
    summary: 'Join the waitlist of a full departure',
    description: 'When seats free up, the first party in line that fits gets a hold (24 hours by default) and a message; the booking then proceeds as any other.',
    params: idParams,
    idempotent: true,
    body: holdBody.pick({ passengers: true, contact: true, language: true }),
    responses: {
      201: { description: 'In line', schema: z.object({ object: z.literal('waitlist_entry'), id: uuid, departureId: uuid, paxCount: z.int(), status: waitlistEntryStatus, position: z.int().describe('1: first in line') }) },
      404: { description: 'No such departure' }, 409: { description: 'Seats are available: book instead; or the departure is closed' } },
    handler: async (ctx, { params, body, principal }) => {
      const p = principal!;
      const d = await ctx.knex('departures').where({ id: params.id }).first();
      if (!d) throw new Problem(404, 'departure_not_found', 'No departure with that id.');
      if (!['scheduled', 'guaranteed'].includes(d.status) || new Date(d.starts_at) <= new Date()) throw new Problem(409, 'departure_closed', 'This departure takes no bookings.');
      if (d.capacity - d.seats_held - d.seats_sold >= body.passengers.length) {
        throw new Problem(409, 'seats_available', `${d.capacity - d.seats_held - d.seats_sold} seats are available: book them with POST /api/v1/bookings.`);
      }
      const customerId = p.role === 'partner' ? null : await customerFor(ctx, p, { ...body, departureId: params.id });
      let entry;
      try {
        [entry] = await ctx.knex('waitlist_entries').insert({
          departure_id: params.id, customer_id: customerId, partner_id: p.role === 'partner' ? p.partnerId : null, created_by_user_id: p.userId,
          pax_count: body.passengers.length, request: JSON.stringify({ passengers: body.passengers, contact: body.contact, language: body.language ?? 'en' }),
        }).returning('*');
      } catch (err) {
        if ((err as { constraint?: string }).constraint === 'waitlist_one_entry') {
          throw new Problem(409, 'already_waiting', `${body.contact.email} is already on this departure's waitlist.`);
        }
        throw err;
      }
      const ahead = await ctx.knex('waitlist_entries').where({ departure_id: params.id, status: 'waiting' }).where('created_at', '<', entry.created_at).count<{ count: number }[]>('* as count');
      return { status: 201, body: { object: 'waitlist_entry', id: entry.id, departureId: params.id, paxCount: entry.pax_count, status: entry.status, position: Number(ahead[0].count) + 1 } };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/departures/{id}/waitlist', operationId: 'listWaitlist', tag: 'Bookings', auth: ['operator', 'admin'],
    summary: 'The waitlist of a departure, in order (operators: departures of their branch)',
    params: idParams,
    responses: {
      200: {
        description: 'Entries, first in line first',
        schema: listOf(z.object({ object: z.literal('waitlist_entry'), id: uuid, paxCount: z.int(), status: waitlistEntryStatus, offeredBookingId: uuid.nullable(), createdAt: at })),
      },
      404: { description: 'No such departure (or another branch\'s)' } },
    handler: async (ctx, { params, principal }) => {
      const departure = ctx.knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', params.id);
      if (principal!.role !== 'admin') departure.where('t.branch_id', principal!.branchId);
      if (!(await departure.first('d.id'))) throw notFound('departure', params.id);
      const rows = await ctx.knex('waitlist_entries').where({ departure_id: params.id }).orderBy('created_at');
      return { body: { object: 'list', data: rows.map((e) => ({ object: 'waitlist_entry', id: e.id, paxCount: e.pax_count, status: e.status, offeredBookingId: e.offered_booking_id, createdAt: iso(e.created_at) })), hasMore: false, nextCursor: null } };
    },
  }),
];
