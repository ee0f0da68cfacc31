/**
 * Money decisions read the ledger (captured − refunded): repeated amendments, the same change
 * twice, cancellations after refunds; payments say what they pay, a retry is the same payment,
 * a slow one answers 202; refunds the provider refuses go to a person; approvals expire.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, hold, scenario, seats, timeline } from '../support/bookings';
import { bookingLedger } from '../../models/ledger';

const pax = (n: number, name = 'P') => Array.from({ length: n }, (_, i) => ({ type: 'adult', firstName: `${name}${i}`, lastName: 'Test' }));
const ledger = (id: string) => bookingLedger(stack().knex, id);

describe('booking money (the ledger decides)', function () {
  this.timeout(120_000);

  it('refunds once across several amendments in a row, and a later cancellation counts what was refunded', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 94500 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa', purpose: 'full', amount: 189000 } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    const one = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { passengers: pax(1) } });
    expect(one.status, JSON.stringify(one.body)).to.equal(200);
    expect(one.body.refund.amount).to.equal(94500);
    expect(one.body.price).to.include({ total: 94500, paid: 94500, due: 0 });
    // Two name-only changes, then the same change again: nothing more goes back.
    for (const body of [{ passengers: pax(1, 'Q') }, { passengers: pax(1, 'R') }, { passengers: pax(1, 'R') }]) {
      const res = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.refund.amount).to.equal(0);
      expect(res.body.bookingStatus).to.equal('paid_in_full');
    }
    expect(await ledger(booking.id)).to.include({ capturedMinor: 189000, refundedMinor: 94500, netPaidMinor: 94500 });
    expect(await stack().knex('refunds').where({ booking_id: booking.id })).to.have.length(1);
    // 20 days out: 90% of what the ledger holds (94,500), not of what was once captured.
    const cancel = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'plans changed' } });
    expect(cancel.status, JSON.stringify(cancel.body)).to.equal(200);
    expect(cancel.body.refund.amount).to.equal(85050);
    await eventually(async () => (await bookingStatus(booking.id)) === 'cancelled');
    expect(await ledger(booking.id)).to.include({ capturedMinor: 189000, refundedMinor: 179550, netPaidMinor: 9450 });
    const view = await api('GET', `/api/v1/bookings/${booking.id}`, { token });
    expect(view.body.price).to.include({ paid: 189000, refunded: 179550, netPaid: 9450 });
  });

  it('refuses a payment that says it pays what is no longer due (a stale retry), and pays nothing', async () => {
    const s = await scenario({ daysAhead: 60, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const deposit = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa', purpose: 'deposit', amount: 6000 } });
    expect(deposit.status, JSON.stringify(deposit.body)).to.equal(201);
    const stale = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa', purpose: 'deposit', amount: 6000 } });
    expect(stale.status).to.equal(409);
    expect(stale.body.code).to.equal('payment_mismatch');
    expect(stale.body.detail).to.match(/balance of 14000/);
    expect(await stack().knex('payments').where({ booking_id: booking.id }).pluck('status')).to.deep.equal(['captured']);
    const balance = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa', purpose: 'balance', amount: 14000 } });
    expect(balance.status, JSON.stringify(balance.body)).to.equal(201);
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 20000 });
  });

  it('answers 202 "processing" for a slow saga; the retry with the same Idempotency-Key is the same payment', async () => {
    const s = await scenario({ daysAhead: 20, components: [{ kind: 'hotel', supplier: 'sim-slow-8500', description: 'Slow hotel' }] });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const key = `pay-${crypto.randomUUID()}`;
    const first = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, headers: { 'idempotency-key': key }, body: { paymentMethod: 'pm_card_visa' } });
    expect(first.status, JSON.stringify(first.body)).to.equal(202);
    expect(first.body).to.include({ status: 'processing', bookingId: booking.id });
    const row = await stack().knex('idempotency_keys').where({ key }).first();
    expect(row.completed_at).to.equal(null);
    expect(row.unknown_at).to.not.equal(null);
    // Meanwhile, a payment without the key is a second payment attempt: refused while this one runs.
    const other = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(other.status).to.equal(409);
    const final = await eventually(async () => {
      const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, headers: { 'idempotency-key': key }, body: { paymentMethod: 'pm_card_visa' } });
      return res.status === 201 ? res : undefined;
    }, 20_000, 500);
    expect(final.body).to.include({ status: 'captured', bookingStatus: 'paid_in_full' });
    const again = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, headers: { 'idempotency-key': key }, body: { paymentMethod: 'pm_card_visa' } });
    expect(again.status).to.equal(201);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(again.body.id).to.equal(final.body.id);
    expect(await stack().knex('payments').where({ booking_id: booking.id }).pluck('status')).to.deep.equal(['captured']);
    expect((await timeline(booking.id)).filter((t) => t === 'payment_captured')).to.have.length(1);
  });

  it('sends a refund the provider refuses to a person, cancels anyway, and records the hand-made refund', async () => {
    const s = await scenario({ daysAhead: 40, adultMinor: 10000 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    expect((await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } })).status).to.equal(201);
    // Refunded outside the platform (the provider's dashboard): the provider will refuse ours.
    const payment = await stack().knex('payments').where({ booking_id: booking.id }).first();
    await stack().knex('sandbox_payments').where({ id: payment.provider_ref }).update({ refunded_minor: stack().knex.raw('captured_minor') });
    const cancel = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'cannot go' } });
    expect(cancel.status, JSON.stringify(cancel.body)).to.equal(200);
    expect(await bookingStatus(booking.id)).to.equal('cancelled');
    const refund = await stack().knex('refunds').where({ booking_id: booking.id }).first();
    expect(refund).to.include({ status: 'failed' });
    expect(refund.failure_reason).to.match(/amount_too_large/);
    const approval = await eventually(async () => stack().knex('approvals').where({ booking_id: booking.id, kind: 'manual_refund', status: 'pending' }).first());
    expect(Number(approval.amount_minor)).to.equal(10000);
    expect(approval.data.refunds.map((r: { refundId: string }) => r.refundId)).to.deep.equal([refund.id]);
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 10000 });
    const admin = await loginAs('admin');
    const listed = await api('GET', '/api/v1/approvals?status=pending', { token: admin });
    expect(listed.body.data.find((a: { id: string }) => a.id === approval.id)).to.include({ kind: 'manual_refund' });
    const made = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: { note: 'refunded from the dashboard' } });
    expect(made.status, JSON.stringify(made.body)).to.equal(200);
    expect(made.body).to.include({ status: 'approved' });
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 0, refundedMinor: 10000 });
    expect(await timeline(booking.id)).to.include.members(['refund_failed', 'manual_refund_requested', 'refund_made_by_hand']);
    const twice = await api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: admin, body: {} });
    expect(twice.status).to.equal(409);
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 0, refundedMinor: 10000 });
  });

  it('expires an approval nobody decides (recorded, the default applied) and refuses a late decision', async () => {
    const s = await scenario({ daysAhead: 3, adultMinor: 10000, rules: { approvalTimeoutHours: 0.0008 } }); // ~2.9 s
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    expect((await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } })).status).to.equal(201);
    const pending = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'late change' } });
    expect(pending.status, JSON.stringify(pending.body)).to.equal(202);
    const row = await stack().knex('approvals').where({ id: pending.body.approvalId }).first();
    expect(row.expires_at).to.not.equal(null);
    expect(row.data).to.include({ action: 'cancel_and_refund', onExpiry: 'reject' });
    await eventually(async () => (await stack().knex('approvals').where({ id: pending.body.approvalId }).first()).status === 'expired', 20_000, 200);
    expect(await bookingStatus(booking.id)).to.equal('paid_in_full');
    expect(await timeline(booking.id)).to.include('approval_expired');
    const late = await api('POST', `/api/v1/approvals/${pending.body.approvalId}/approve`, { token: await loginAs('admin'), body: {} });
    expect(late.status).to.equal(409);
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 10000 });
  });

  it('refuses to decide an approval once the trip has started; it expires and the booking goes on', async () => {
    // A day is 8.6 s here: departure in ~21 s, the approval's own deadline (200 h) long after it.
    const s = await scenario({ daysAhead: 2.5, adultMinor: 10000, rules: { timeScale: 1e-4, holdMinutes: 60 * 24, approvalTimeoutHours: 200 } });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    expect((await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } })).status).to.equal(201);
    const pending = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'last-minute change' } });
    expect(pending.status, JSON.stringify(pending.body)).to.equal(202);
    // Business time runs 10,000 times faster than the wall clock: wait until the departure has passed on the booking's calendar.
    const departsAtWall = Date.now() + (+s.departureAt - Date.now()) * 1e-4;
    await new Promise((r) => setTimeout(r, Math.max(0, departsAtWall - Date.now()) + 1500));
    const late = await api('POST', `/api/v1/approvals/${pending.body.approvalId}/approve`, { token: await loginAs('admin'), body: {} });
    expect(late.status, JSON.stringify(late.body)).to.equal(409);
    // Refused by the workflow (trip_started), or already expired by it at the departure (approval_not_pending).
    expect(['trip_started', 'approval_not_pending']).to.include(late.body.code);
    const expired = await eventually(async () => {
      const row = await stack().knex('approvals').where({ id: pending.body.approvalId }).first();
      return row.status === 'expired' ? row : undefined;
    }, 30_000, 250);
    expect(expired.decision_note).to.match(/trip started/);
    await eventually(async () => (await bookingStatus(booking.id)) === 'in_progress', 30_000, 250);
    expect(await ledger(booking.id)).to.include({ netPaidMinor: 10000 });
  });

  it('gives up a customer action nobody finishes: voided, and the hold can still be paid', async () => {
    const s = await scenario({ daysAhead: 20, rules: { paymentActionTimeoutMinutes: 0.03, holdMinutes: 60 } }); // 1.8 s
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const action = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_authenticationRequired' } });
    expect(action.status).to.equal(202);
    expect(action.body.status).to.equal('requires_action');
    await eventually(async () => (await timeline(booking.id)).includes('payment_action_expired'), 20_000, 200);
    expect(await stack().knex('payments').where({ booking_id: booking.id }).pluck('status')).to.deep.equal(['voided']);
    expect(await bookingStatus(booking.id)).to.equal('held');
    const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
  });

  it('skips a balance reminder whose moment had passed before the booking reached it, and sends the next', async () => {
    // Due 2 days from now: the 7-day reminder is already past, the 1-day one is tomorrow (a day is 8.6 s here).
    const s = await scenario({ daysAhead: 47, rules: { timeScale: 1e-4, depositThresholdDays: 45, balanceDueDaysBefore: 45, holdMinutes: 60 * 24 * 40 } });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const deposit = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa', purpose: 'deposit' } });
    expect(deposit.status, JSON.stringify(deposit.body)).to.equal(201);
    await eventually(async () => stack().knex('outbox_messages').where({ booking_id: booking.id, template: 'balance_reminder' }).first(), 30_000, 200);
    const keys = await stack().knex('outbox_messages').where({ booking_id: booking.id, template: 'balance_reminder' }).pluck('dedupe_key');
    expect(keys.some((k: string) => k.includes('balance-reminder-1d'))).to.equal(true);
    expect(keys.some((k: string) => k.includes('balance-reminder-7d'))).to.equal(false);
  });

  it('moves the supplier components with the booking: new reservations first, then the old released', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 10000, components: [{ kind: 'hotel', supplier: 'sim', description: 'Hotel night' }] });
    const { knex } = stack();
    const [later] = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(Date.now() + 25 * 86_400_000), timezone: 'Europe/Madrid', capacity: 5 }).returning('id');
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    expect((await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } })).status).to.equal(201);
    const moved = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { departureId: later.id } });
    expect(moved.status, JSON.stringify(moved.body)).to.equal(200);
    const reservations = await knex('supplier_reservations').where({ booking_id: booking.id }).orderBy('created_at').select('idempotency_key', 'status');
    expect(reservations.map((r) => r.status)).to.deep.equal(['cancelled', 'confirmed']);
    expect(reservations[1].idempotency_key).to.match(/\/amend-1\//);
    const item = await knex('booking_items').where({ booking_id: booking.id, kind: 'hotel' }).first();
    expect(item).to.include({ status: 'confirmed', reservation_key: reservations[1].idempotency_key });
    // A supplier that cannot follow: the move is refused and nothing changes. (The next run, after a
    // name-only change, reads the supplier from the record.)
    await knex('booking_items').where({ id: item.id }).update({ supplier_ref: 'sim-fail' });
    expect((await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { passengers: pax(1, 'N') } })).status).to.equal(200);
    const refused = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token, body: { departureId: s.departureId } });
    expect(refused.status, JSON.stringify(refused.body)).to.equal(409);
    expect(refused.body.code).to.equal('supplier_refused');
    expect((await knex('bookings').where({ id: booking.id }).first()).departure_id).to.equal(later.id);
    expect(await seats(later.id)).to.deep.equal({ held: 0, sold: 1 });
  });
});
