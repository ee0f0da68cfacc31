/**
 * Activities of the booking lifecycle. Each state change is one transaction that first inserts
 * its timeline event under a deterministic dedupe key: if the event is already there, the
 * change was already applied (a retry after a crash) and nothing is done twice. Provider calls
 * carry idempotency keys derived from the workflow, so a retried activity never charges twice.
 * Business refusals become non-retryable ApplicationFailures with a type the workflow branches on.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { mergeRules, type BookingRules } from '../domain/booking-rules';
import type { PaymentProvider, ProviderName } from '../integrations/payments/types';
import { PaymentRefused } from '../integrations/payments/types';
import { SupplierRefused, type Supplier } from '../integrations/suppliers/simulated';
import { amendBooking, AmendRefused, offerWaitlist, loadBookingRules, type AmendOutcome, type HoldRequest } from '../models/holds';
import type { Client } from '@temporalio/client';
import type { EmailAddress, EmailProvider } from '../integrations/email/types';
import { recordBookingMessage, wakeMessageDispatcher } from './messaging/booking-messages';
import { startBookingWorkflow } from '../api/booking-workflows';
import { enrollBookingContact } from './automation';
import { taskQueue, taskQueues } from '../temporal.config';

export interface BookingActivityDeps {
  knex: Knex;
  providers: Partial<Record<ProviderName, PaymentProvider>>;
  supplier: Supplier;
  publicUrl: string;
  /** Global compression of business time (tests); a branch's rules may override it. */
  timeScale: number;
  /** Starts the workflows of bookings created here (waitlist offers); the schedule relays any it misses. */
  temporal?: () => Promise<Client>;
  /** Sends booking emails through the email provider (the transactional templates). */
  email?: { provider: () => EmailProvider; from: EmailAddress };
}

export interface BookingSnapshot {
  bookingId: string;
  reference: string;
  status: string;
  branchId: string;
  customerId: string | null;
  partnerId: string | null;
  departureId: string;
  departureAt: string;
  departureEndAt: string;
  paxCount: number;
  currency: string;
  /** What the buyer pays: the gross total, or the net for a partner. */
  payableMinor: number;
  depositMinor: number;
  plan: 'full' | 'deposit' | 'on_account';
  holdExpiresAt: string | null;
  balanceDueAt: string | null;
  amountPaidMinor: number;
  rules: BookingRules & { timeScale: number };
  components: Array<{ itemId: string; position: number; kind: string; supplier: string; description: string }>;
  /** Captured payments and what is left of each after refunds (absent in snapshots recorded before amendments existed). */
  captured?: Array<{ paymentId: string; amountMinor: number }>;
}

export interface AuthorizeInput {
  bookingId: string;
  /** e.g. "pay-1": unique per attempt within the booking's workflow. */
  attemptKey: string;
  provider: ProviderName;
  paymentMethod: string;
  amountMinor: number;
  currency: string;
  purpose: 'deposit' | 'balance' | 'full';
}

export type AuthorizeOutcome =
  | { status: 'authorized'; paymentId: string; providerRef: string }
  | { status: 'requires_action'; paymentId: string; providerRef: string; actionUrl: string }
  | { status: 'declined'; paymentId: string; reason: string; code: string };

export type FinalStatus = 'expired' | 'failed' | 'cancelled';

function refusal(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

async function appendOnce(trx: Knex.Transaction, bookingId: string, key: string, type: string, data: Record<string, unknown>, actor = 'workflow'): Promise<boolean> {
  const inserted = await trx('booking_events')
    .insert({ booking_id: bookingId, type, actor, data: JSON.stringify(data), dedupe_key: key })
    .onConflict(['booking_id', 'dedupe_key']).ignore().returning('id');
  return inserted.length > 0;
}

export function createBookingActivities(deps: BookingActivityDeps) {
  const { knex } = deps;

  function provider(name: ProviderName): PaymentProvider {
    const p = deps.providers[name];
    if (!p) throw refusal('ProviderNotConfigured', `The payment provider "${name}" is not configured on this platform.`);
    return p;
  }

  async function paymentRow(paymentId: string) {
    const row = await knex('payments').where({ id: paymentId }).first();
    if (!row) throw refusal('PaymentMissing', `payment ${paymentId} does not exist`);
    return row;
  }

  return {
    async loadBooking(bookingId: string): Promise<BookingSnapshot> {
      const b = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
        .where('b.id', bookingId)
        .first('b.*', 'd.starts_at', 't.duration_minutes');
      if (!b) throw refusal('BookingMissing', `booking ${bookingId} does not exist`);
      const rulesRow = await knex('booking_rules').where({ branch_id: b.branch_id }).first('rules');
      const rules = { timeScale: deps.timeScale, ...mergeRules(rulesRow?.rules), ...(rulesRow?.rules?.timeScale ? { timeScale: Number(rulesRow.rules.timeScale) } : {}) };
      const components = await knex('booking_items').where({ booking_id: bookingId }).whereIn('kind', ['hotel', 'flight']).orderBy('position');
      const departureAt = new Date(b.starts_at);
      const balanceDueAt = b.payment_plan === 'deposit' ? new Date(+departureAt - rules.balanceDueDaysBefore * 86_400_000).toISOString() : null;
      return {
        bookingId, reference: b.reference, status: b.status, branchId: b.branch_id, customerId: b.customer_id, partnerId: b.partner_id,
        departureId: b.departure_id, departureAt: departureAt.toISOString(),
        departureEndAt: new Date(+departureAt + b.duration_minutes * 60_000).toISOString(),
        paxCount: b.pax_count, currency: b.currency, payableMinor: b.partner_id ? b.net_minor : b.total_minor,
        depositMinor: b.deposit_minor, plan: b.payment_plan, holdExpiresAt: b.hold_expires_at ? new Date(b.hold_expires_at).toISOString() : null,
        balanceDueAt, amountPaidMinor: b.amount_paid_minor, rules,
        components: components.map((c) => ({ itemId: c.id, position: c.position, kind: c.kind, supplier: c.supplier_ref, description: c.description })),
        captured: (await knex('payments as p').where('p.booking_id', bookingId).whereIn('p.status', ['captured', 'partially_refunded']).orderBy('p.created_at')
          .select('p.id', knex.raw(`p.amount_minor - coalesce((select sum(r.amount_minor) from refunds r where r.payment_id = p.id and r.status = 'succeeded'), 0) as left_minor`)))
          .map((p) => ({ paymentId: p.id, amountMinor: Number(p.left_minor) })).filter((p) => p.amountMinor > 0),
      };
    },

    async amendBooking(input: { bookingId: string; key: string; passengers?: HoldRequest['passengers']; departureId?: string; actor: string | null }): Promise<AmendOutcome> {
      try {
        return await amendBooking(knex, input.bookingId, { passengers: input.passengers, departureId: input.departureId }, input.key, input.actor ? `user:${input.actor}` : 'workflow');
      } catch (err) {
        if (err instanceof AmendRefused) throw ApplicationFailure.nonRetryable(err.message, 'AmendRefused', err.code);
        throw err;
      }
    },

    /** Freed seats go to the waitlist, first come first served, each offer a hold of its own. */
    async offerWaitlist(input: { departureId: string }): Promise<string[]> {
      const departure = await knex('departures as d').join('tours as t', 't.id', 'd.tour_id').where('d.id', input.departureId).first('t.branch_id');
      const rules = await loadBookingRules(knex, departure.branch_id);
      const offers = await offerWaitlist(knex, input.departureId, rules.waitlistOfferHours * 60);
      for (const offer of offers) {
        // Delivered by the message dispatcher (woken below), in the party's language, with the offer's link and expiry.
        const booking = await knex('bookings').where({ id: offer.bookingId }).first('contact', 'language', 'reference', 'hold_expires_at');
        await knex('outbox_messages').insert({
          channel: 'email', recipient: booking.contact.email, template: 'waitlist_offer', language: booking.language, booking_id: offer.bookingId,
          data: JSON.stringify({ entryId: offer.entryId, reference: booking.reference, holdExpiresAt: booking.hold_expires_at ? new Date(booking.hold_expires_at).toISOString() : null }),
          dedupe_key: `booking-${offer.bookingId}/waitlist-offer/email`,
        }).onConflict('dedupe_key').ignore();
        if (deps.temporal) await startBookingWorkflow(await deps.temporal(), offer.bookingId);
      }
      if (offers.length) await wakeMessageDispatcher(deps.temporal);
      return offers.map((o) => o.bookingId);
    },

    /** An abandoned booking (a hold that lapsed) enrolls its contact in the automations for it. */
    async enrollAbandonedBooking(input: { bookingId: string }): Promise<number> {
      if (!deps.temporal) return 0;
      return enrollBookingContact(knex, deps.temporal, taskQueue(taskQueues.marketing), input.bookingId, 'hold_expired');
    },

    /** A confirmed booking or a completed trip enrolls the booking's contact in the automations for it. */
    async enrollBookingContact(input: { bookingId: string; trigger: 'booking_confirmed' | 'trip_completed' }): Promise<number> {
      if (!deps.temporal) return 0;
      return enrollBookingContact(knex, deps.temporal, taskQueue(taskQueues.marketing), input.bookingId, input.trigger);
    },

    async markWorkflowStarted(bookingId: string): Promise<void> {
      await knex('bookings').where({ id: bookingId }).whereNull('workflow_started_at').update({ workflow_started_at: knex.fn.now() });
    },

    async authorizePayment(input: AuthorizeInput): Promise<AuthorizeOutcome> {
      const key = `booking-${input.bookingId}/${input.attemptKey}`;
      const p = provider(input.provider);
      await knex('payments').insert({
        booking_id: input.bookingId, provider: input.provider, purpose: input.purpose, status: 'pending',
        amount_minor: input.amountMinor, currency: input.currency, idempotency_key: key,
      }).onConflict('idempotency_key').ignore();
      const payment = await knex('payments').where({ idempotency_key: key }).first();
      const booking = await knex('bookings').where({ id: input.bookingId }).first('reference');
      let result;
      try {
        result = await p.authorize({
          idempotencyKey: `${key}/authorize`, amountMinor: input.amountMinor, currency: input.currency, paymentMethod: input.paymentMethod,
          bookingId: input.bookingId, bookingReference: booking.reference, description: `Spirit Tours booking ${booking.reference}`,
          returnUrl: `${deps.publicUrl}/pay/return/${input.bookingId}`,
        });
      } catch (err) {
        if (err instanceof PaymentRefused) result = { status: 'declined' as const, providerRef: null, reason: err.message, code: err.code };
        else throw err;
      }
      const status = result.status === 'declined' ? 'failed' : result.status;
      await knex.transaction(async (trx) => {
        await trx('payments').where({ id: payment.id }).update({
          status, provider_ref: result.providerRef, failure_reason: result.status === 'declined' ? result.reason : null, updated_at: trx.fn.now(),
        });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/${result.status}`, `payment_${result.status}`, {
          provider: input.provider, amountMinor: input.amountMinor, currency: input.currency, purpose: input.purpose,
          ...(result.status === 'declined' ? { reason: result.reason, code: result.code } : {}),
        });
      });
      if (result.status === 'declined') return { status: 'declined', paymentId: payment.id, reason: result.reason, code: result.code };
      if (result.status === 'requires_action') return { status: 'requires_action', paymentId: payment.id, providerRef: result.providerRef, actionUrl: result.actionUrl };
      return { status: 'authorized', paymentId: payment.id, providerRef: result.providerRef };
    },

    /** After a customer action (3-D Secure) or when a webhook may have been missed: where does the payment stand? */
    async refreshPayment(paymentId: string): Promise<{ state: string; reason?: string }> {
      const payment = await paymentRow(paymentId);
      const result = await provider(payment.provider).retrieve(payment.provider_ref);
      const mapped = result.state === 'declined' ? 'failed' : result.state;
      if (['authorized', 'captured', 'failed', 'voided'].includes(mapped) && payment.status === 'requires_action') {
        await knex('payments').where({ id: paymentId, status: 'requires_action' }).update({ status: mapped, failure_reason: result.reason ?? null, updated_at: knex.fn.now() });
      }
      return result;
    },

    async reserveComponent(input: { bookingId: string; itemId: string; supplier: string; description: string; attemptKey: string }): Promise<string> {
      Context.current().heartbeat();
      try {
        const reservation = await deps.supplier.reserve({
          idempotencyKey: `booking-${input.bookingId}/${input.attemptKey}/item-${input.itemId}`, supplier: input.supplier,
          bookingId: input.bookingId, bookingItemId: input.itemId, description: input.description,
        });
        await knex.transaction(async (trx) => {
          await trx('booking_items').where({ id: input.itemId }).update({ status: 'confirmed' });
          await appendOnce(trx, input.bookingId, `${input.attemptKey}/item-${input.itemId}/confirmed`, 'component_confirmed', { item: input.description, supplier: input.supplier });
        });
        return reservation.reservationId;
      } catch (err) {
        if (err instanceof SupplierRefused) {
          await knex.transaction(async (trx) => {
            await trx('booking_items').where({ id: input.itemId }).update({ status: 'failed' });
            await appendOnce(trx, input.bookingId, `${input.attemptKey}/item-${input.itemId}/failed`, 'component_failed', { item: input.description, supplier: input.supplier, reason: err.message });
          });
          throw refusal('SupplierRefused', err.message);
        }
        throw err;
      }
    },

    async cancelComponent(input: { bookingId: string; itemId: string; description: string; attemptKey: string }): Promise<void> {
      await deps.supplier.cancel({ idempotencyKey: `booking-${input.bookingId}/${input.attemptKey}/item-${input.itemId}` });
      await knex.transaction(async (trx) => {
        await trx('booking_items').where({ id: input.itemId }).update({ status: 'cancelled' });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/item-${input.itemId}/cancelled`, 'component_cancelled', { item: input.description });
      });
    },

    async capturePayment(input: { bookingId: string; paymentId: string; attemptKey: string }): Promise<void> {
      const payment = await paymentRow(input.paymentId);
      if (payment.status === 'captured') return;
      try {
        await provider(payment.provider).capture({
          idempotencyKey: `${payment.idempotency_key}/capture`, providerRef: payment.provider_ref, amountMinor: payment.amount_minor, currency: payment.currency,
        });
      } catch (err) {
        if (err instanceof PaymentRefused) throw refusal('CaptureRefused', err.message);
        throw err;
      }
      await knex.transaction(async (trx) => {
        await trx('payments').where({ id: payment.id }).update({ status: 'captured', updated_at: trx.fn.now() });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/captured`, 'payment_captured', { amountMinor: payment.amount_minor, currency: payment.currency });
      });
    },

    async voidPayment(input: { bookingId: string; paymentId: string; attemptKey: string }): Promise<void> {
      const payment = await paymentRow(input.paymentId);
      if (['voided', 'failed'].includes(payment.status)) return;
      await provider(payment.provider).void({ idempotencyKey: `${payment.idempotency_key}/void`, providerRef: payment.provider_ref });
      await knex.transaction(async (trx) => {
        await trx('payments').where({ id: payment.id }).update({ status: 'voided', updated_at: trx.fn.now() });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/voided`, 'payment_voided', { amountMinor: payment.amount_minor });
      });
    },

    /** Refunds `amountMinor` of one captured payment; `refundKey` makes the refund unique. */
    async refundPayment(input: { bookingId: string; paymentId: string; amountMinor: number; reason: string; refundKey: string }): Promise<void> {
      if (input.amountMinor <= 0) return;
      const payment = await paymentRow(input.paymentId);
      const key = `${payment.idempotency_key}/${input.refundKey}`;
      await knex('refunds').insert({
        payment_id: payment.id, booking_id: input.bookingId, amount_minor: input.amountMinor, currency: payment.currency,
        status: 'pending', reason: input.reason, idempotency_key: key,
      }).onConflict('idempotency_key').ignore();
      const refund = await knex('refunds').where({ idempotency_key: key }).first();
      if (refund.status === 'succeeded') return;
      const result = await provider(payment.provider).refund({
        idempotencyKey: key, providerRef: payment.provider_ref, amountMinor: input.amountMinor, currency: payment.currency, reason: input.reason,
      });
      await knex.transaction(async (trx) => {
        const done = await trx('refunds').where({ id: refund.id, status: 'pending' })
          .update({ status: result.status === 'failed' ? 'failed' : 'succeeded', provider_ref: result.refundRef, updated_at: trx.fn.now() }).returning('id');
        if (done.length && result.status !== 'failed') {
          await trx('bookings').where({ id: input.bookingId }).increment('amount_refunded_minor', input.amountMinor);
          const totals = await trx('refunds').where({ payment_id: payment.id, status: 'succeeded' }).sum<{ sum: number }[]>('amount_minor as sum');
          await trx('payments').where({ id: payment.id }).update({ status: Number(totals[0].sum) >= payment.amount_minor ? 'refunded' : 'partially_refunded' });
          await appendOnce(trx, input.bookingId, `${input.refundKey}/refunded/${payment.id}`, 'payment_refunded', { amountMinor: input.amountMinor, currency: payment.currency, reason: input.reason });
        }
      });
      if (result.status === 'failed') throw refusal('RefundFailed', `the provider refused the refund of payment ${payment.id}`);
    },

    /**
     * Money taken: the hold becomes a sale (held → sold seats) on the first payment, and the
     * booking moves to confirmed, or paid_in_full when nothing is left to pay.
     */
    async recordPayment(input: { bookingId: string; paymentId: string; attemptKey: string }): Promise<{ status: string; amountPaidMinor: number }> {
      return knex.transaction(async (trx) => {
        const payment = await trx('payments').where({ id: input.paymentId }).first();
        const booking = await trx('bookings').where({ id: input.bookingId }).forUpdate().first();
        const fresh = await appendOnce(trx, input.bookingId, `${input.attemptKey}/recorded`, 'payment_recorded', { amountMinor: payment.amount_minor, currency: payment.currency });
        if (!fresh) return { status: booking.status, amountPaidMinor: booking.amount_paid_minor };
        const paid = booking.amount_paid_minor + payment.amount_minor;
        const payable = booking.partner_id ? booking.net_minor : booking.total_minor;
        const status = paid >= payable ? 'paid_in_full' : 'confirmed';
        if (booking.status === 'held') {
          await trx('departures').where({ id: booking.departure_id }).update({
            seats_held: trx.raw('seats_held - ?', [booking.pax_count]), seats_sold: trx.raw('seats_sold + ?', [booking.pax_count]), updated_at: trx.fn.now(),
          });
        }
        await trx('bookings').where({ id: input.bookingId }).update({ status, amount_paid_minor: paid, hold_expires_at: null, updated_at: trx.fn.now() });
        await trx('waitlist_entries').where({ offered_booking_id: input.bookingId, status: 'offered' }).update({ status: 'booked' });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/status`, status, { amountPaidMinor: paid, payableMinor: payable });
        return { status, amountPaidMinor: paid };
      });
    },

    /** On-account partner bookings: confirmed against the credit line, nothing charged now. */
    async confirmOnAccount(input: { bookingId: string }): Promise<void> {
      await knex.transaction(async (trx) => {
        const booking = await trx('bookings').where({ id: input.bookingId }).forUpdate().first();
        if (!(await appendOnce(trx, input.bookingId, 'on_account/confirmed', 'confirmed', { onAccount: true }))) return;
        if (booking.status !== 'held') return;
        await trx('departures').where({ id: booking.departure_id }).update({
          seats_held: trx.raw('seats_held - ?', [booking.pax_count]), seats_sold: trx.raw('seats_sold + ?', [booking.pax_count]),
        });
        await trx('bookings').where({ id: input.bookingId }).update({ status: 'confirmed', hold_expires_at: null, updated_at: trx.fn.now() });
      });
    },

    /** Ends a booking: its seats (held or sold) go back to the departure, in the same transaction. */
    async closeBooking(input: { bookingId: string; to: FinalStatus; reason: string; eventKey: string; actor?: string }): Promise<{ seatsReleased: number }> {
      return knex.transaction(async (trx) => {
        const booking = await trx('bookings').where({ id: input.bookingId }).forUpdate().first();
        if (!(await appendOnce(trx, input.bookingId, input.eventKey, input.to, { reason: input.reason }, input.actor))) return { seatsReleased: 0 };
        if (['expired', 'failed', 'cancelled', 'completed', 'no_show'].includes(booking.status)) return { seatsReleased: 0 };
        const column = booking.status === 'held' ? 'seats_held' : 'seats_sold';
        await trx('departures').where({ id: booking.departure_id }).update({ [column]: trx.raw('?? - ?', [column, booking.pax_count]), updated_at: trx.fn.now() });
        await trx('bookings').where({ id: input.bookingId }).update({
          status: input.to, failure_reason: input.to === 'failed' ? input.reason : booking.failure_reason, hold_expires_at: null, updated_at: trx.fn.now(),
        });
        await trx('waitlist_entries').where({ offered_booking_id: input.bookingId, status: 'offered' }).update({ status: input.to === 'expired' ? 'expired' : 'cancelled' });
        return { seatsReleased: booking.pax_count };
      });
    },

    async setStatus(input: { bookingId: string; from: string[]; to: string; eventKey: string }): Promise<boolean> {
      return knex.transaction(async (trx) => {
        if (!(await appendOnce(trx, input.bookingId, input.eventKey, input.to, {}))) return false;
        const changed = await trx('bookings').where({ id: input.bookingId }).whereIn('status', input.from).update({ status: input.to, updated_at: trx.fn.now() }).returning('id');
        return changed.length > 0;
      });
    },

    async appendEvent(input: { bookingId: string; key: string; type: string; data: Record<string, unknown>; actor?: string }): Promise<void> {
      await knex.transaction((trx) => appendOnce(trx, input.bookingId, input.key, input.type, input.data, input.actor));
    },

    /**
     * A booking message: only recorded, once (the dedupe key), in outbox_messages; no provider is
     * called here, so email trouble never holds up the booking. The message dispatcher
     * (activities/messaging/booking-messages.ts) delivers email rows and is woken now; WhatsApp
     * rows stay queued until that channel lands.
     */
    async queueMessage(input: { bookingId: string; channel: 'email' | 'whatsapp'; template: string; key: string; data?: Record<string, unknown> }): Promise<boolean> {
      const inserted = await recordBookingMessage(knex, input);
      if (input.channel === 'email') await wakeMessageDispatcher(deps.temporal);
      return inserted;
    },

    async createApproval(input: { bookingId: string; workflowId: string; amountMinor: number; currency: string; reason: string; requestedBy: string | null; key: string }): Promise<string> {
      const booking = await knex('bookings').where({ id: input.bookingId }).first('branch_id');
      await knex.transaction(async (trx) => {
        await trx('approvals').insert({
          booking_id: input.bookingId, branch_id: booking.branch_id, kind: 'refund', workflow_id: input.workflowId, amount_minor: input.amountMinor,
          currency: input.currency, reason: input.reason, requested_by_user_id: input.requestedBy, dedupe_key: `booking-${input.bookingId}/${input.key}`,
        }).onConflict('dedupe_key').ignore();
        await appendOnce(trx, input.bookingId, `${input.key}/requested`, 'approval_requested', { amountMinor: input.amountMinor, currency: input.currency, reason: input.reason });
      });
      const row = await knex('approvals').where({ dedupe_key: `booking-${input.bookingId}/${input.key}` }).first('id');
      return row.id;
    },

    async recordApprovalDecision(input: { approvalId: string; bookingId: string; decision: 'approved' | 'rejected' | 'expired'; by: string | null; note?: string }): Promise<void> {
      await knex.transaction(async (trx) => {
        await trx('approvals').where({ id: input.approvalId, status: 'pending' }).update({
          status: input.decision, decided_by_user_id: input.by, decision_note: input.note ?? null, decided_at: trx.fn.now(),
        });
        await appendOnce(trx, input.bookingId, `approval-${input.approvalId}/${input.decision}`, `approval_${input.decision}`, { note: input.note ?? null }, input.by ? `user:${input.by}` : 'workflow');
      });
    },
  };
}

export type BookingActivities = ReturnType<typeof createBookingActivities>;
