import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { completeSandboxAction } from '../../integrations/payments/sandbox';
import { bookingStatus, eventually, hold, holdBody, scenario, seats, timeline } from '../support/bookings';

const DAY_MS = 86_400_000;

describe('booking lifecycle', function () {
  this.timeout(60_000);

  it('holds seats and answers with the price breakdown and hold expiry', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 12000 });
    const token = await loginAs('customer');
    const res = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 2) });
    expect(res.status).to.equal(201);
    expect(res.body).to.include({ status: 'held', paxCount: 2, paymentPlan: 'full' });
    expect(res.body.price).to.include({ currency: 'EUR', total: 24000, due: 24000 });
    expect(new Date(res.body.holdExpiresAt).getTime() - Date.now()).to.be.within(14 * 60_000, 15 * 60_000 + 1000);
    expect(res.body.timeline.map((e: any) => e.type)).to.deep.equal(['hold_placed']);
    expect(await seats(s.departureId)).to.deep.equal({ held: 2, sold: 0 });
    await eventually(async () => (await stack().knex('bookings').where({ id: res.body.id }).first()).workflow_started_at);
    // The answer is built from the rows the hold wrote: it says what a read of the booking says.
    const read = await api('GET', `/api/v1/bookings/${res.body.id}`, { token });
    for (const field of ['id', 'reference', 'status', 'price', 'holdExpiresAt', 'passengers', 'items', 'payments', 'refunds', 'paxCount', 'paymentPlan']) {
      expect(res.body[field], field).to.deep.equal(read.body[field]);
    }
    expect(res.body.timeline[0]).to.deep.equal(read.body.timeline[0]);
  });

  it('runs a booking from hold to completed: deposit, balance, trip, review request', async () => {
    // 50 days ahead: a 30% deposit, the balance due 30 days before. The branch's calendar runs
    // 400,000x faster, so the 50 days pass in about 11 seconds: the balance must be paid within
    // ~4 s (auto-cancel 27 days before), and the pre-trip reminder comes ~5 s after that, time
    // enough for a loaded machine (at 1e-6 a 2 s stall skipped the reminder as late, by design).
    const s = await scenario({ daysAhead: 50, adultMinor: 10000, durationMinutes: 60, rules: { timeScale: 2.5e-6, holdMinutes: 60 * 24 * 40 } });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    expect(booking.paymentPlan).to.equal('deposit');
    expect(booking.price.deposit).to.equal(6000);

    const deposit = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    expect(deposit.status, JSON.stringify(deposit.body)).to.equal(201);
    expect(deposit.body).to.include({ purpose: 'deposit', amount: 6000, bookingStatus: 'confirmed', status: 'captured' });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });

    const balance = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    expect(balance.status).to.equal(201);
    expect(balance.body).to.include({ purpose: 'balance', amount: 14000, bookingStatus: 'paid_in_full' });

    await eventually(async () => (await bookingStatus(booking.id)) === 'completed', 30_000);
    await eventually(async () => (await stack().knex('outbox_messages').where({ booking_id: booking.id, template: 'review_request' })).length === 1, 10_000);
    const types = await timeline(booking.id);
    for (const expected of ['hold_placed', 'payment_authorized', 'payment_captured', 'confirmed', 'paid_in_full', 'in_progress', 'completed']) {
      expect(types, expected).to.include(expected);
    }
    expect(types.indexOf('confirmed')).to.be.lessThan(types.indexOf('paid_in_full'));
    const templates = await stack().knex('outbox_messages').where({ booking_id: booking.id }).orderBy('id').pluck('template');
    expect(templates).to.include.members(['booking_confirmation', 'payment_receipt', 'pre_trip_reminder', 'review_request']);
    const b = await stack().knex('bookings').where({ id: booking.id }).first();
    expect(b.amount_paid_minor).to.equal(20000);
    const captured = await stack().knex('sandbox_payments').where({ booking_id: booking.id }).sum<{ sum: number }[]>('captured_minor as sum');
    expect(Number(captured[0].sum)).to.equal(20000);
  });

  it('reminds about an unpaid balance, then cancels under the policy', async () => {
    const s = await scenario({ daysAhead: 60, adultMinor: 10000, rules: { timeScale: 1e-6, holdMinutes: 60 * 24 * 40 } });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const deposit = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    expect(deposit.body.amount).to.equal(3000);
    await eventually(async () => (await bookingStatus(booking.id)) === 'cancelled', 30_000);
    const reminders = await stack().knex('outbox_messages').where({ booking_id: booking.id, template: 'balance_reminder' }).pluck('channel');
    expect(reminders.sort()).to.deep.equal(['email', 'email', 'whatsapp', 'whatsapp']);
    // Auto-cancel 3 days after the due date = 27 days before departure: the 90% tier.
    const b = await stack().knex('bookings').where({ id: booking.id }).first();
    expect(b.amount_refunded_minor).to.equal(2700);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
  });

  it('emails the confirmation from the transactional template, in the booking\'s language, once', async () => {
    const s = await scenario({ daysAhead: 20, adultMinor: 12345 });
    const token = await loginAs('customer');
    const email = `confirm.${Date.now()}@example.com`;
    const booking = (await api('POST', '/api/v1/bookings', { token, body: { ...holdBody(s.departureId, 1), contact: { name: 'Lucía Pérez', email, phone: '+34600123456' }, language: 'es' } })).body;
    await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    const sent = await eventually(async () => {
      const row = await stack().knex('outbox_messages').where({ booking_id: booking.id, template: 'booking_confirmation', channel: 'email' }).first();
      return row?.status === 'sent' ? row : undefined;
    });
    expect(sent.recipient).to.equal(email);
    const received = stack().sendgrid.accepted.filter((p) => p.email === email);
    expect(received).to.have.length(1);
    const rendered = stack().sendgrid.render(received[0]);
    expect(rendered.subject).to.contain(booking.reference);
    expect(rendered.html).to.contain('Lucía').and.contain('123,45');
    // Its WhatsApp copy is written to the contact's phone and delivered by the dispatcher (the customer opted in),
    // unless it is night in Madrid: then it waits, queued, for the end of the quiet hours.
    const whatsapp = await eventually(async () => {
      const row = await stack().knex('outbox_messages').where({ booking_id: booking.id, channel: 'whatsapp', template: 'booking_confirmation' }).first();
      return row && (row.status === 'sent' || (row.status === 'queued' && /quiet hours/.test(row.error ?? ''))) ? row : undefined;
    }, 30_000, 200);
    expect(whatsapp.recipient).to.equal('+34600123456');
  });

  it('expires an unpaid hold and gives the seats back', async () => {
    const s = await scenario({ daysAhead: 20, rules: { holdMinutes: 0.02 } }); // 1.2 s
    const booking = await hold(await loginAs('customer'), s.departureId, 3);
    expect(await seats(s.departureId)).to.deep.equal({ held: 3, sold: 0 });
    await eventually(async () => (await bookingStatus(booking.id)) === 'expired', 20_000);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    const late = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token: await loginAs('customer'), body: { paymentMethod: 'pm_card_visa' } });
    expect(late.status).to.equal(409);
  });

  it('keeps the hold when the card is declined, so another card can be tried while it lasts', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_chargeDeclined' } });
    expect(res.status).to.equal(402);
    expect(res.body).to.include({ code: 'payment_declined', bookingStatus: 'held' });
    expect(res.body.detail).to.match(/try another payment method/);
    expect(await bookingStatus(booking.id)).to.equal('held');
    expect(await seats(s.departureId)).to.deep.equal({ held: 2, sold: 0 });
    const again = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    expect(again.status, JSON.stringify(again.body)).to.equal(201);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 2 });
    const payments = await stack().knex('payments').where({ booking_id: booking.id }).orderBy('created_at').pluck('status');
    expect(payments).to.deep.equal(['failed', 'captured']);
    expect(await timeline(booking.id)).to.include('payment_declined');
  });

  it('undoes the saga in reverse when the third supplier component fails', async () => {
    const s = await scenario({
      daysAhead: 20,
      components: [
        { kind: 'hotel', supplier: 'sim', description: 'Hotel night 1' },
        { kind: 'flight', supplier: 'sim', description: 'Flight MAD-TLV' },
        { kind: 'hotel', supplier: 'sim-fail', description: 'Hotel night 2' },
      ],
    });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(res.status).to.equal(409);
    expect(res.body.code).to.equal('booking_failed');
    expect(res.body.detail).to.match(/Hotel night 2/);

    const { knex } = stack();
    const events = await knex('booking_events').where({ booking_id: booking.id }).orderBy('id');
    const steps = events.filter((e) => e.type.startsWith('component_') || ['payment_voided', 'failed'].includes(e.type)).map((e) => `${e.type}:${e.data.item ?? ''}`);
    expect(steps).to.deep.equal([
      'component_confirmed:Hotel night 1',
      'component_confirmed:Flight MAD-TLV',
      'component_failed:Hotel night 2',
      'component_cancelled:Flight MAD-TLV',
      'component_cancelled:Hotel night 1',
      'payment_voided:',
      'failed:',
    ]);
    const reservations = await knex('supplier_reservations').where({ booking_id: booking.id }).orderBy('created_at').pluck('status');
    expect(reservations).to.deep.equal(['cancelled', 'cancelled', 'failed']);
    const payment = await knex('sandbox_payments').where({ booking_id: booking.id }).first();
    expect(payment).to.include({ status: 'voided', captured_minor: 0 });
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    expect(await bookingStatus(booking.id)).to.equal('failed');
  });

  it('lets the customer confirm a payment that requires action on the hosted page', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_authenticationRequired' } });
    expect(res.status).to.equal(202);
    expect(res.body.status).to.equal('requires_action');
    const url = new URL(res.body.actionUrl);
    const pagePath = url.pathname;
    const view = await api('GET', `/api/v1/bookings/${booking.id}`, { token });
    expect(view.body.pendingAction.actionUrl).to.equal(res.body.actionUrl);
    const busy = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(busy.status).to.equal(409);
    expect(busy.body.code).to.equal('payment_in_progress');

    const page = await api('GET', pagePath);
    expect(page.status).to.equal(200);
    expect(page.body).to.contain('Confirm payment');
    const confirm = await api('POST', pagePath, { raw: 'outcome=authenticate', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(confirm.status).to.equal(200);
    expect(confirm.body).to.contain('Thank you');
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full');
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 1 });
  });

  it('asks the provider where a payment stands when the customer returns from its page', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_authenticationRequired' } });
    expect(res.status).to.equal(202);
    // The customer finished at the provider, but no webhook/signal arrived (as with a PayPal approval).
    const paymentRef = new URL(res.body.actionUrl).pathname.split('/').pop()!;
    await completeSandboxAction(stack().knex, paymentRef, 'authenticate');
    expect(await bookingStatus(booking.id)).to.equal('held');
    const back = await api('GET', `/pay/return/${booking.id}`);
    expect(back.status).to.equal(200);
    await eventually(async () => (await bookingStatus(booking.id)) === 'paid_in_full');
  });

  it('never oversells: 300 concurrent holds for 20 seats hold exactly 20', async function () {
    this.timeout(120_000);
    const s = await scenario({ daysAhead: 30, capacity: 20 });
    const token = await loginAs('customer');
    const results = await Promise.all(Array.from({ length: 300 }, () => api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 1) })));
    const held = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    expect(held).to.have.length(20);
    expect(refused).to.have.length(280);
    expect(new Set(refused.map((r) => r.body.code))).to.deep.equal(new Set(['sold_out']));
    expect(await seats(s.departureId)).to.deep.equal({ held: 20, sold: 0 });
    const rows = await stack().knex('bookings').where({ departure_id: s.departureId }).count<{ count: number }[]>('* as count');
    expect(Number(rows[0].count)).to.equal(20);
  });

  it('refunds by the policy tier of the days left before departure', async function () {
    this.timeout(90_000);
    const token = await loginAs('customer');
    // days ahead (plus a margin) -> refund percent; small amounts, so no approval is needed
    const cases: Array<[number, number]> = [[40, 100], [20, 90], [10, 75], [5, 50], [1, 0]];
    for (const [days, percent] of cases) {
      const s = await scenario({ daysAhead: days + 0.5, adultMinor: 10000 });
      const booking = await hold(token, s.departureId, 1);
      const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
      expect(paid.status, `${days} days`).to.equal(201);
      const res = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'change of plans' } });
      expect(res.status, `${days} days: ${JSON.stringify(res.body)}`).to.equal(200);
      expect(res.body.refund, `${days} days`).to.deep.equal({ amount: 100 * percent, currency: 'EUR', percent });
      const b = await stack().knex('bookings').where({ id: booking.id }).first();
      expect(b.status).to.equal('cancelled');
      expect(b.amount_refunded_minor).to.equal(100 * percent);
      expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    }
  });

  it('cancels a held booking without any refund and refuses a second cancellation', async () => {
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 2);
    const res = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: {} });
    expect(res.status).to.equal(200);
    expect(res.body.refund.amount).to.equal(0);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    const again = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: {} });
    expect(again.status).to.equal(409);
    expect(again.body.code).to.equal('booking_closed');
  });

  it('sends big and late refunds to a manager, who approves or rejects', async () => {
    const customer = await loginAs('customer');
    const admin = await loginAs('admin');
    // Within 3 days of departure: 50% tier, needs approval.
    const late = await scenario({ daysAhead: 2.5, adultMinor: 10000 });
    const b1 = await hold(customer, late.departureId, 1);
    await api('POST', `/api/v1/bookings/${b1.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    const pending = await api('POST', `/api/v1/bookings/${b1.id}/cancel`, { token: customer, body: { reason: 'ill' } });
    expect(pending.status).to.equal(202);
    expect(pending.body).to.include({ status: 'pending_approval' });
    expect(pending.body.refund.amount).to.equal(5000);
    expect(await bookingStatus(b1.id)).to.equal('paid_in_full');
    const listed = await api('GET', '/api/v1/approvals?status=pending', { token: admin });
    expect(listed.body.data.map((a: any) => a.id)).to.include(pending.body.approvalId);
    const forbidden = await api('POST', `/api/v1/approvals/${pending.body.approvalId}/approve`, { token: customer, body: {} });
    expect(forbidden.status).to.equal(403);
    const approved = await api('POST', `/api/v1/approvals/${pending.body.approvalId}/approve`, { token: admin, body: { note: 'ok' } });
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    expect(approved.body).to.include({ status: 'approved', bookingStatus: 'cancelled' });
    expect((await stack().knex('bookings').where({ id: b1.id }).first()).amount_refunded_minor).to.equal(5000);
    const twice = await api('POST', `/api/v1/approvals/${pending.body.approvalId}/approve`, { token: admin, body: {} });
    expect(twice.status).to.equal(409);

    // 10,000 EUR or more: needs approval even far ahead; rejected, the booking stays.
    const big = await scenario({ daysAhead: 40, adultMinor: 1_200_000 });
    const b2 = await hold(customer, big.departureId, 1);
    expect(b2.paymentPlan).to.equal('full');
    await api('POST', `/api/v1/bookings/${b2.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    const pending2 = await api('POST', `/api/v1/bookings/${b2.id}/cancel`, { token: customer, body: { reason: 'too expensive' } });
    expect(pending2.status).to.equal(202);
    expect(pending2.body.approvalReason).to.match(/10000 EUR/);
    const rejected = await api('POST', `/api/v1/approvals/${pending2.body.approvalId}/reject`, { token: admin, body: { note: 'no' } });
    expect(rejected.body).to.include({ status: 'rejected', bookingStatus: 'paid_in_full' });
    expect(await bookingStatus(b2.id)).to.equal('paid_in_full');
    expect(await seats(big.departureId)).to.deep.equal({ held: 0, sold: 1 });
    expect(await timeline(b2.id)).to.include.members(['approval_requested', 'approval_rejected']);
  });

  it('answers every bad booking request with a clear 4xx and writes nothing', async () => {
    const s = await scenario({ daysAhead: 20, capacity: 3 });
    const token = await loginAs('customer');
    const { knex } = stack();
    const count = async () => Number((await knex('bookings').where({ departure_id: s.departureId }).count<{ count: number }[]>('* as count'))[0].count);
    const cases: Array<[unknown, number, string]> = [
      [{ ...holdBody(s.departureId), passengers: [] }, 400, 'validation_failed'],
      [{ ...holdBody(s.departureId), contact: { name: 'x', email: 'nope' } }, 400, 'validation_failed'],
      [{ ...holdBody(s.departureId), passengers: [{ type: 'alien', firstName: 'a', lastName: 'b' }] }, 400, 'validation_failed'],
      [{ ...holdBody(s.departureId), surprise: true }, 400, 'validation_failed'],
      [holdBody('00000000-0000-4000-8000-000000000000'), 404, 'departure_not_found'],
      [holdBody(s.departureId, 4), 409, 'not_enough_seats'],
      [holdBody(s.departureId, 11), 409, 'too_many_passengers'],
      [{ ...holdBody(s.departureId, 1), passengers: [{ type: 'adult', firstName: 'a', lastName: 'b' }, { type: 'infant', firstName: 'c', lastName: 'd' }] }, 422, 'pax_type_not_offered'],
      [{ ...holdBody(s.departureId, 1), passengers: [{ type: 'child', firstName: 'a', lastName: 'b' }] }, 422, 'adult_required'],
      [{ ...holdBody(s.departureId, 1), passengers: [{ type: 'adult', firstName: 'a', lastName: 'b' }, { type: 'child', firstName: 'c', lastName: 'd', birthDate: '1980-01-01' }] }, 422, 'passenger_age_mismatch'],
      [{ ...holdBody(s.departureId, 1), promoCode: 'NOPE' }, 422, 'promo_code_invalid'],
      [{ ...holdBody(s.departureId, 1), onAccount: true }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of cases) {
      const res = await api('POST', '/api/v1/bookings', { token, body });
      expect(res.status, JSON.stringify(body)).to.equal(status);
      expect(res.body.code, JSON.stringify(res.body)).to.equal(code);
      expect(res.headers.get('content-type')).to.contain('application/problem+json');
    }
    expect(await count()).to.equal(0);
    expect(await seats(s.departureId)).to.deep.equal({ held: 0, sold: 0 });
    const badPay = await api('POST', '/api/v1/bookings/00000000-0000-4000-8000-000000000000/payments', { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(badPay.status).to.equal(404);
    const unknownProvider = await api('POST', '/api/v1/bookings/00000000-0000-4000-8000-000000000000/payments', { token, body: { provider: 'cash', paymentMethod: 'x' } });
    expect(unknownProvider.status).to.equal(400);
  });

  it('scopes bookings: customers see theirs, partners theirs, others get 404', async () => {
    const s = await scenario({ daysAhead: 20 });
    const mine = await hold(await loginAs('customer'), s.departureId, 1);
    const partners = await hold(await loginAs('partner'), s.departureId, 1);
    expect(partners.price.net).to.equal(partners.price.total - Math.round(partners.price.total * 0.08));
    const asPartner = await api('GET', `/api/v1/bookings/${mine.id}`, { token: await loginAs('partner') });
    expect(asPartner.status).to.equal(404);
    const asCustomer = await api('GET', `/api/v1/bookings/${partners.id}`, { token: await loginAs('customer') });
    expect(asCustomer.status).to.equal(404);
    const list = await api('GET', '/api/v1/bookings?limit=100', { token: await loginAs('partner') });
    expect(list.body.data.every((b: any) => b.partnerId === partners.partnerId)).to.equal(true);
    const admin = await api('GET', `/api/v1/bookings?departureId=${s.departureId}`, { token: await loginAs('admin') });
    expect(admin.body.data.map((b: any) => b.id).sort()).to.deep.equal([mine.id, partners.id].sort());
    expect(Date.now() - new Date(s.departureAt).getTime()).to.be.lessThan(0);
    void DAY_MS;
  });
});
