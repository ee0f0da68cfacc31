/**
 * Activities of the booking lifecycle. Each state change is one transaction that first inserts
 * its timeline event under a deterministic dedupe key: if the event is already there, the
 * change was already applied (a retry after a crash) and nothing is done twice. Provider calls
 * carry idempotency keys derived from the workflow, so a retried activity never charges twice.
 * Business refusals become non-retryable ApplicationFailures with a type the workflow branches on.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { parseBookingRules, type BookingRules } from '../domain/booking-rules';
import { allocateRefund, type Ledger } from '../domain/ledger';
import { bookingLedger, refundMade } from '../models/ledger';
import { isTerminalStatus } from '../domain/bookings';
import type { PaymentProvider, ProviderName } from '../integrations/payments/types';
import { PaymentRefused } from '../integrations/payments/types';
import { SupplierRefused, type Supplier } from '../integrations/suppliers/simulated';
import { amendBooking, AmendRefused, offerWaitlist, releasePromoUse, loadBookingRules, type AmendOutcome, type HoldRequest } from '../models/holds';
import type { Client } from '@temporalio/client';
import { recordBookingMessage, wakeMessageDispatcher } from './messaging/booking-messages';
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
  /** Starts a booking's workflow (idempotently); wired in activities/index.ts. */
  startBookingWorkflow?: (bookingId: string) => Promise<void>;
  /** FraudGuardian checks payments (FRAUD_CHECK); told to the workflow with the booking. Default on. */
  fraudCheck?: boolean;
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
  components: Array<{ itemId: string; position: number; kind: string; supplier: string; description: string; status?: string; reservationKey?: string | null }>;
  /** Captured payments and what is left of each after refunds (absent in snapshots recorded before amendments existed). */
  captured?: Array<{ paymentId: string; amountMinor: number }>;
  /** false: this deployment runs payments without FraudGuardian's check (FRAUD_CHECK=off); absent in older snapshots. */
  fraudCheck?: boolean;
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

/** What one refund request did, as recorded: a retry answers the same. */
export interface RefundOutcome {
  requestedMinor: number;
  /** Succeeded or on its way (the provider said pending). */
  refundedMinor: number;
  /** Refunds the provider refused: they wait for a person (manual review). */
  failed: Array<{ refundId: string; paymentId: string; amountMinor: number; reason: string }>;
  /** Asked for more than the ledger held: the difference was not refunded. */
  shortMinor: number;
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

  /**
   * Executes one refund row with its provider (idempotent by the row's key) and records the
   * answer. Returns the refusal reason when the provider refuses it (the row is then failed), or
   * null when it succeeded (now or earlier). Other errors (network, 5xx) are thrown: retried.
   */
  async function executeRefund(refund: { id: string; booking_id: string; status: string; amount_minor: number; reason: string; idempotency_key: string; failure_reason?: string }, refundKey: string, payment: { id: string; provider: ProviderName; provider_ref: string; currency: string; amount_minor: number }): Promise<string | null> {
    if (refund.status === 'succeeded') return null;
    if (refund.status !== 'pending') return refund.failure_reason ?? `the refund is ${refund.status}`;
    let result: { status: 'succeeded' | 'pending' | 'failed'; refundRef: string | null; reason?: string };
    try {
      result = await provider(payment.provider).refund({
        idempotencyKey: refund.idempotency_key, providerRef: payment.provider_ref, amountMinor: Number(refund.amount_minor), currency: payment.currency, reason: refund.reason,
      });
    } catch (err) {
      if (!(err instanceof PaymentRefused)) throw err;
      result = { status: 'failed', refundRef: null, reason: `${err.code}: ${err.message}` };
    }
    const reason = result.status === 'failed' ? (result.reason ?? 'the provider refused the refund') : null;
    await knex.transaction(async (trx) => {
      const done = await trx('refunds').where({ id: refund.id, status: 'pending' })
        .update({ status: reason ? 'failed' : 'succeeded', provider_ref: result.refundRef, failure_reason: reason, updated_at: trx.fn.now() }).returning('id');
      if (!done.length) return;
      if (reason) {
        await appendOnce(trx, refund.booking_id, `${refundKey}/refund-failed/${payment.id}`, 'refund_failed', { amountMinor: Number(refund.amount_minor), currency: payment.currency, reason });
        return;
      }
      await refundMade(trx, { booking_id: refund.booking_id, payment_id: payment.id, amount_minor: refund.amount_minor });
      await appendOnce(trx, refund.booking_id, `${refundKey}/refunded/${payment.id}`, 'payment_refunded', { amountMinor: Number(refund.amount_minor), currency: payment.currency, reason: refund.reason });
    });
    return reason;
  }

  /**
   * Asks a person: a refund above the limits (`refund`, decided through the booking workflow) or
   * a refund the provider would not make (`manual_refund`: settle it by hand, then approve).
   * Once per key; a booking has at most one pending refund approval (the database says so).
   */
  async function createApproval(input: {
    bookingId: string; workflowId: string; amountMinor: number; currency: string; reason: string; requestedBy: string | null; key: string;
    kind?: 'refund' | 'manual_refund'; expiresAt?: string; data?: Record<string, unknown>;
  }): Promise<string> {
    const booking = await knex('bookings').where({ id: input.bookingId }).first('branch_id');
    const dedupeKey = `booking-${input.bookingId}/${input.key}`;
    await knex.transaction(async (trx) => {
      const inserted = await trx('approvals').insert({
        booking_id: input.bookingId, branch_id: booking.branch_id, kind: input.kind ?? 'refund', workflow_id: input.workflowId, amount_minor: input.amountMinor,
        currency: input.currency, reason: input.reason, requested_by_user_id: input.requestedBy, dedupe_key: dedupeKey,
        expires_at: input.expiresAt ?? null, data: JSON.stringify(input.data ?? {}),
      }).onConflict('dedupe_key').ignore().returning('id');
      if (!inserted.length) return;
      await appendOnce(trx, input.bookingId, `${input.key}/requested`, input.kind === 'manual_refund' ? 'manual_refund_requested' : 'approval_requested', {
        approvalId: inserted[0].id, amountMinor: input.amountMinor, currency: input.currency, reason: input.reason, expiresAt: input.expiresAt ?? null,
      });
    });
    const row = await knex('approvals').where({ dedupe_key: dedupeKey }).first('id');
    return row.id;
  }

  return {
    async loadBooking(bookingId: string): Promise<BookingSnapshot> {
      const b = await knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tours as t', 't.id', 'd.tour_id')
        .where('b.id', bookingId)
        .first('b.*', 'd.starts_at', 't.duration_minutes');
      if (!b) throw refusal('BookingMissing', `booking ${bookingId} does not exist`);
      const rulesRow = await knex('booking_rules').where({ branch_id: b.branch_id }).first('rules');
      const parsed = parseBookingRules(rulesRow?.rules);
      // A bad value falls back to its default (never stops the branch's bookings) and is said loudly.
      if (parsed.problems.length) Context.current().log.warn('booking rules of the branch are not valid; defaults used for those fields', { branchId: b.branch_id, problems: parsed.problems });
      const rules = { timeScale: parsed.timeScale ?? deps.timeScale, ...parsed.rules };
      const components = await knex('booking_items').where({ booking_id: bookingId }).whereIn('kind', ['hotel', 'flight']).orderBy('position');
      const departureAt = new Date(b.starts_at);
      const ledger = await bookingLedger(knex, bookingId);
      const balanceDueAt = b.payment_plan === 'deposit' ? new Date(+departureAt - rules.balanceDueDaysBefore * 86_400_000).toISOString() : null;
      return {
        bookingId, reference: b.reference, status: b.status, branchId: b.branch_id, customerId: b.customer_id, partnerId: b.partner_id,
        departureId: b.departure_id, departureAt: departureAt.toISOString(),
        departureEndAt: new Date(+departureAt + b.duration_minutes * 60_000).toISOString(),
        paxCount: b.pax_count, currency: b.currency, payableMinor: b.partner_id ? b.net_minor : b.total_minor,
        depositMinor: b.deposit_minor, plan: b.payment_plan, holdExpiresAt: b.hold_expires_at ? new Date(b.hold_expires_at).toISOString() : null,
        balanceDueAt, amountPaidMinor: ledger.netPaidMinor, rules,
        components: components.map((c) => ({ itemId: c.id, position: c.position, kind: c.kind, supplier: c.supplier_ref, description: c.description, status: c.status, reservationKey: c.reservation_key })),
        captured: ledger.refundable.filter((p) => p.leftMinor > 0).map((p) => ({ paymentId: p.paymentId, amountMinor: p.leftMinor })),
        fraudCheck: deps.fraudCheck ?? true,
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
        if (deps.startBookingWorkflow) await deps.startBookingWorkflow(offer.bookingId);
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
      const reservationKey = `booking-${input.bookingId}/${input.attemptKey}/item-${input.itemId}`;
      try {
        const reservation = await deps.supplier.reserve({
          idempotencyKey: reservationKey, supplier: input.supplier,
          bookingId: input.bookingId, bookingItemId: input.itemId, description: input.description,
        });
        await knex.transaction(async (trx) => {
          await trx('booking_items').where({ id: input.itemId }).update({ status: 'confirmed', reservation_key: reservationKey });
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

    /** Cancels the reservation made under `attemptKey`; the item is cancelled unless it now holds another reservation (an amendment's). */
    async cancelComponent(input: { bookingId: string; itemId: string; description: string; attemptKey: string }): Promise<void> {
      const reservationKey = `booking-${input.bookingId}/${input.attemptKey}/item-${input.itemId}`;
      await deps.supplier.cancel({ idempotencyKey: reservationKey });
      await knex.transaction(async (trx) => {
        await trx('booking_items').where({ id: input.itemId }).where((w) => w.whereNull('reservation_key').orWhere('reservation_key', reservationKey)).update({ status: 'cancelled' });
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
      try {
        await provider(payment.provider).void({ idempotencyKey: `${payment.idempotency_key}/void`, providerRef: payment.provider_ref });
      } catch (err) {
        // The provider will not void it (already captured, expired, unknown): retrying cannot help.
        if (err instanceof PaymentRefused) throw refusal('VoidRefused', `the provider refused to void payment ${payment.id}: ${err.message}`);
        throw err;
      }
      await knex.transaction(async (trx) => {
        await trx('payments').where({ id: payment.id }).update({ status: 'voided', updated_at: trx.fn.now() });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/voided`, 'payment_voided', { amountMinor: payment.amount_minor });
      });
    },

    /** Refunds `amountMinor` of one captured payment; `refundKey` makes the refund unique. (Runs recorded before refundBooking existed.) */
    async refundPayment(input: { bookingId: string; paymentId: string; amountMinor: number; reason: string; refundKey: string }): Promise<void> {
      if (input.amountMinor <= 0) return;
      const payment = await paymentRow(input.paymentId);
      const key = `${payment.idempotency_key}/${input.refundKey}`;
      await knex('refunds').insert({
        payment_id: payment.id, booking_id: input.bookingId, amount_minor: input.amountMinor, currency: payment.currency,
        status: 'pending', reason: input.reason, idempotency_key: key,
      }).onConflict('idempotency_key').ignore();
      const refund = await knex('refunds').where({ idempotency_key: key }).first();
      const outcome = await executeRefund(refund, input.refundKey, payment);
      if (outcome) throw refusal('RefundRefused', `the provider refused the refund of payment ${payment.id}: ${outcome}`);
    },

    /**
     * Gives back `amountMinor` of what the booking holds, spread over its captured payments newest
     * first. The plan (which payment refunds how much) is recorded once under the refund key, so
     * a retry executes the same plan and answers the same; never more than the ledger holds.
     * A refund the provider refuses is marked failed and reported, not retried: it goes to a person.
     */
    async refundBooking(input: { bookingId: string; amountMinor: number; reason: string; refundKey: string }): Promise<RefundOutcome> {
      const planKey = `${input.refundKey}/refund-planned`;
      const plan = await knex.transaction(async (trx) => {
        await trx('bookings').where({ id: input.bookingId }).forUpdate().first('id');
        const recorded = await trx('booking_events').where({ booking_id: input.bookingId, dedupe_key: planKey }).first('data');
        if (recorded) return recorded.data as { requestedMinor: number; refunds: Array<{ refundId: string; paymentId: string; amountMinor: number }> };
        const ledger = await bookingLedger(trx, input.bookingId);
        const refunds: Array<{ refundId: string; paymentId: string; amountMinor: number }> = [];
        for (const part of allocateRefund(ledger, input.amountMinor)) {
          const payment = await trx('payments').where({ id: part.paymentId }).first('idempotency_key', 'currency');
          const [row] = await trx('refunds').insert({
            payment_id: part.paymentId, booking_id: input.bookingId, amount_minor: part.amountMinor, currency: payment.currency,
            status: 'pending', reason: input.reason, idempotency_key: `${payment.idempotency_key}/${input.refundKey}`,
          }).returning('id');
          refunds.push({ refundId: row.id, paymentId: part.paymentId, amountMinor: part.amountMinor });
        }
        const data = { requestedMinor: input.amountMinor, refunds };
        await appendOnce(trx, input.bookingId, planKey, 'refund_planned', data);
        return data;
      });
      const failed: RefundOutcome['failed'] = [];
      let refundedMinor = 0;
      for (const part of plan.refunds) {
        const refund = await knex('refunds').where({ id: part.refundId }).first();
        const payment = await paymentRow(part.paymentId);
        const refusedBecause = await executeRefund(refund, input.refundKey, payment);
        if (refusedBecause) failed.push({ ...part, reason: refusedBecause });
        else refundedMinor += part.amountMinor;
      }
      const planned = plan.refunds.reduce((s, r) => s + r.amountMinor, 0);
      return { requestedMinor: plan.requestedMinor, refundedMinor, failed, shortMinor: plan.requestedMinor - planned };
    },

    /** The booking's ledger now: what decisions about money start from. */
    async bookingLedger(input: { bookingId: string }): Promise<Ledger> {
      return bookingLedger(knex, input.bookingId);
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
        // What is paid is what the ledger holds (the captured row is already there), never a running counter.
        const { netPaidMinor } = await bookingLedger(trx, input.bookingId);
        if (!fresh) {
          const recorded = await trx('booking_events').where({ booking_id: input.bookingId, dedupe_key: `${input.attemptKey}/status` }).first('type', 'data');
          return recorded ? { status: recorded.type, amountPaidMinor: Number(recorded.data.amountPaidMinor) } : { status: booking.status, amountPaidMinor: netPaidMinor };
        }
        const payable = booking.partner_id ? booking.net_minor : booking.total_minor;
        const status = netPaidMinor >= payable ? 'paid_in_full' : 'confirmed';
        if (booking.status === 'held') {
          await trx('departures').where({ id: booking.departure_id }).update({
            seats_held: trx.raw('seats_held - ?', [booking.pax_count]), seats_sold: trx.raw('seats_sold + ?', [booking.pax_count]), updated_at: trx.fn.now(),
          });
        }
        await trx('bookings').where({ id: input.bookingId }).update({
          status, amount_paid_minor: trx.raw('amount_paid_minor + ?', [payment.amount_minor]), hold_expires_at: null, updated_at: trx.fn.now(),
        });
        await trx('waitlist_entries').where({ offered_booking_id: input.bookingId, status: 'offered' }).update({ status: 'booked' });
        await appendOnce(trx, input.bookingId, `${input.attemptKey}/status`, status, { amountPaidMinor: netPaidMinor, payableMinor: payable });
        return { status, amountPaidMinor: netPaidMinor };
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
        const recorded = await trx('booking_events').where({ booking_id: input.bookingId, dedupe_key: input.eventKey }).first('data');
        // Already applied (a retry after the commit): answer what the first attempt answered.
        if (recorded) return { seatsReleased: Number(recorded.data?.seatsReleased ?? 0) };
        const open = !isTerminalStatus(booking.status);
        const seatsReleased = open ? booking.pax_count : 0;
        await appendOnce(trx, input.bookingId, input.eventKey, input.to, { reason: input.reason, seatsReleased }, input.actor);
        if (!open) return { seatsReleased };
        await releasePromoUse(trx, booking, input.to); // a hold that lapsed or failed gives its promo code use back
        const column = booking.status === 'held' ? 'seats_held' : 'seats_sold';
        await trx('departures').where({ id: booking.departure_id }).update({ [column]: trx.raw('?? - ?', [column, booking.pax_count]), updated_at: trx.fn.now() });
        await trx('bookings').where({ id: input.bookingId }).update({
          status: input.to, failure_reason: input.to === 'failed' ? input.reason : booking.failure_reason, hold_expires_at: null, updated_at: trx.fn.now(),
        });
        await trx('waitlist_entries').where({ offered_booking_id: input.bookingId, status: 'offered' }).update({ status: input.to === 'expired' ? 'expired' : 'cancelled' });
        return { seatsReleased };
      });
    },

    /** Moves the booking on (e.g. to in_progress); a retry answers whether the first attempt moved it. */
    async setStatus(input: { bookingId: string; from: string[]; to: string; eventKey: string }): Promise<boolean> {
      return knex.transaction(async (trx) => {
        const recorded = await trx('booking_events').where({ booking_id: input.bookingId, dedupe_key: input.eventKey }).first('data');
        if (recorded) return recorded.data?.applied ?? true;
        const changed = await trx('bookings').where({ id: input.bookingId }).whereIn('status', input.from).update({ status: input.to, updated_at: trx.fn.now() }).returning('id');
        await appendOnce(trx, input.bookingId, input.eventKey, input.to, { applied: changed.length > 0 });
        return changed.length > 0;
      });
    },

    async appendEvent(input: { bookingId: string; key: string; type: string; data: Record<string, unknown>; actor?: string }): Promise<void> {
      await knex.transaction((trx) => appendOnce(trx, input.bookingId, input.key, input.type, input.data, input.actor));
    },

    /**
     * A booking message: only recorded, once (the dedupe key), in outbox_messages; no provider is
     * called here, so email or WhatsApp trouble never holds up the booking. The message
     * dispatcher (activities/messaging/booking-messages.ts) delivers both channels and is woken now.
     */
    async queueMessage(input: { bookingId: string; channel: 'email' | 'whatsapp'; template: string; key: string; data?: Record<string, unknown> }): Promise<boolean> {
      const inserted = await recordBookingMessage(knex, input);
      await wakeMessageDispatcher(deps.temporal);
      return inserted;
    },

    createApproval,

    /** Refunds of a refund key that the provider refused or never confirmed go to a person, with exactly what is owed. */
    async requestManualRefund(input: { bookingId: string; workflowId: string; refundKey: string; reason: string }): Promise<string | null> {
      const plan = await knex('booking_events').where({ booking_id: input.bookingId, dedupe_key: `${input.refundKey}/refund-planned` }).first('data');
      const ids: string[] = plan ? plan.data.refunds.map((r: { refundId: string }) => r.refundId) : [];
      const open = ids.length ? await knex('refunds').whereIn('id', ids).whereIn('status', ['pending', 'failed']) : [];
      if (!open.length) return null;
      const amountMinor = open.reduce((s: number, r: { amount_minor: number }) => s + Number(r.amount_minor), 0);
      const currency = open[0].currency;
      return createApproval({
        bookingId: input.bookingId, workflowId: input.workflowId, amountMinor, currency, requestedBy: null, key: `${input.refundKey}/manual`, kind: 'manual_refund',
        reason: `refund by hand: ${input.reason}`,
        data: {
          action: 'refund_by_hand',
          refunds: open.map((r: { id: string; payment_id: string; amount_minor: number; status: string; failure_reason: string | null }) => ({
            refundId: r.id, paymentId: r.payment_id, amountMinor: Number(r.amount_minor), status: r.status, providerSaid: r.failure_reason,
          })),
        },
      });
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
