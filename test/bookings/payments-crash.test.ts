/**
 * A worker SIGKILLed at the three moments where money is ambiguous: during authorize (Stripe
 * created the PaymentIntent, its answer never arrived), during capture (Stripe captured, the
 * answer never arrived) and between capture and record (captured and written, the sale not yet
 * recorded). Each time a new worker finishes the saga, and the provider's ledger shows one
 * PaymentIntent and one capture, ours one payment and one sale.
 */
import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { placeHold } from '../../models/holds';
import { payUpdate, bookingWorkflowId } from '../../workflows/booking-messages';
import { stack } from '../support/stack';
import { killAllWorkerProcesses, startWorkerProcess } from '../support/worker-process';
import { runId } from '../support/env';
import { bookingStatus, eventually, scenario, seats } from '../support/bookings';


const exited = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));

async function kill(child: ChildProcess) {
  child.kill('SIGKILL');
  await exited(child);
}

/** A held booking whose workflow runs on the crash test's own task queue, with one worker process. */
async function bookingOnOwnQueue(name: string) {
  const { knex, temporal } = stack();
  const prefix = `paycrash-${name}-${runId}-`;
  const s = await scenario({ daysAhead: 20, adultMinor: 10000 });
  const customer = await knex('users').where({ email: 'customer@demo.test' }).first();
  const held = await placeHold(knex, {
    departureId: s.departureId, passengers: [{ type: 'adult', firstName: 'Cr', lastName: 'Ash' }], contact: { name: 'Cr Ash', email: `crash.${name}@example.com` },
    language: 'en', customerId: customer.customer_id, partnerId: null, onAccount: false, createdByUserId: customer.id,
  });
  const worker = startWorkerProcess(prefix, { STRIPE_SECRET_KEY: 'sk_test_spirit', STRIPE_API_BASE: stack().stripe.url });
  const handle = await temporal.workflow.start('bookingWorkflow', { workflowId: bookingWorkflowId(held.bookingId), taskQueue: `${prefix}bookings`, args: [{ bookingId: held.bookingId }] });
  await eventually(async () => (await knex('bookings').where({ id: held.bookingId }).first()).workflow_started_at, 60_000, 100);
  return { s, bookingId: held.bookingId, handle, worker, prefix };
}

/** What must hold after any crash: one intent (when Stripe), one capture, one payment, one sale. */
async function expectChargedOnce(bookingId: string, departureId: string) {
  const { knex } = stack();
  expect(await bookingStatus(bookingId)).to.equal('paid_in_full');
  const payments = await knex('payments').where({ booking_id: bookingId });
  expect(payments).to.have.length(1);
  expect(payments[0]).to.include({ status: 'captured', amount_minor: 10000 });
  expect(await knex('booking_events').where({ booking_id: bookingId, type: 'payment_recorded' })).to.have.length(1);
  expect(await knex('booking_events').where({ booking_id: bookingId, type: 'payment_captured' })).to.have.length(1);
  expect((await knex('bookings').where({ id: bookingId }).first()).amount_paid_minor).to.equal(10000);
  expect(await seats(departureId)).to.deep.equal({ held: 0, sold: 1 });
  return payments[0];
}

function stripeLedger(bookingId: string) {
  const { stripe } = stack();
  const intents = [...stripe.paymentIntents.values()].filter((pi) => pi.metadata?.bookingId === bookingId);
  const ids = new Set(intents.map((pi) => pi.id));
  const captures = stripe.requests.filter((r) => r.method === 'POST' && /\/capture$/.test(r.path) && ids.has(r.path.split('/')[3]));
  return { intents, captures };
}

describe('payments when the worker dies', function () {
  this.timeout(180_000);
  after(killAllWorkerProcesses);

  it('SIGKILL during authorize (Stripe created the intent, the answer was lost): the retry gets the same intent, one charge', async () => {
    const { stripe } = stack();
    const b = await bookingOnOwnQueue('authorize');
    let worker = b.worker;
    const held = stripe.holdNext('POST', /^\/v1\/payment_intents$/);
    const payment = b.handle.executeUpdate(payUpdate, { args: [{ provider: 'stripe', paymentMethod: 'pm_card_visa', actor: null }] });
    payment.catch(() => undefined);
    const request = await held.arrived;
    await kill(worker);
    held.release();
    // Stripe acted: an intent exists, authorized; we have no answer, and nothing recorded past "pending".
    expect(stripeLedger(b.bookingId).intents).to.have.length(1);
    expect((await stack().knex('payments').where({ booking_id: b.bookingId }).first()).status).to.equal('pending');

    worker = startWorkerProcess(b.prefix, { STRIPE_SECRET_KEY: 'sk_test_spirit', STRIPE_API_BASE: stack().stripe.url });
    try {
      const result = await payment;
      expect(result.outcome, JSON.stringify(result)).to.equal('succeeded');
    } finally {
      await kill(worker);
    }
    const key = request.headers['idempotency-key'] as string;
    expect(stripe.chargesByKey.get(key)).to.equal(1);
    const sameKey = stripe.requests.filter((r) => r.path === '/v1/payment_intents' && r.headers['idempotency-key'] === key);
    expect(sameKey.map((r) => r.replayed)).to.deep.equal([false, true]);
    const { intents, captures } = stripeLedger(b.bookingId);
    expect(intents).to.have.length(1);
    expect(intents[0]).to.include({ status: 'succeeded', amount_received: 10000 });
    expect(captures.filter((r) => !r.replayed)).to.have.length(1);
    const p = await expectChargedOnce(b.bookingId, b.s.departureId);
    expect(p.provider_ref).to.equal(intents[0].id);
  });

  it('SIGKILL during capture (Stripe captured, the answer was lost): the retry is replayed by its key, captured once', async () => {
    const { stripe } = stack();
    const b = await bookingOnOwnQueue('capture');
    let worker = b.worker;
    const held = stripe.holdNext('POST', /^\/v1\/payment_intents\/[^/]+\/capture$/);
    const payment = b.handle.executeUpdate(payUpdate, { args: [{ provider: 'stripe', paymentMethod: 'pm_card_visa', actor: null }] });
    payment.catch(() => undefined);
    const request = await held.arrived;
    await kill(worker);
    held.release();
    const [intent] = stripeLedger(b.bookingId).intents;
    expect(intent.status).to.equal('succeeded');
    expect((await stack().knex('payments').where({ booking_id: b.bookingId }).first()).status).to.equal('authorized');

    worker = startWorkerProcess(b.prefix, { STRIPE_SECRET_KEY: 'sk_test_spirit', STRIPE_API_BASE: stack().stripe.url });
    try {
      expect((await payment).outcome).to.equal('succeeded');
    } finally {
      await kill(worker);
    }
    const { captures } = stripeLedger(b.bookingId);
    expect(captures.map((r) => r.replayed)).to.deep.equal([false, true]);
    expect(captures[1].headers['idempotency-key']).to.equal(request.headers['idempotency-key']);
    expect(stripe.paymentIntents.get(intent.id)).to.include({ status: 'succeeded', amount_received: 10000 });
    await expectChargedOnce(b.bookingId, b.s.departureId);
  });

  it('SIGKILL between capture and record (captured and written, the sale not yet recorded): recorded once, seats sold once', async () => {
    const { knex } = stack();
    const b = await bookingOnOwnQueue('record');
    let worker = b.worker;
    // Hold the booking row (as another writer would), so the record step waits on it after the capture.
    const lock = await knex.transaction();
    await lock.raw('select id from bookings where id = ? for no key update', [b.bookingId]);
    const payment = b.handle.executeUpdate(payUpdate, { args: [{ provider: 'sandbox', paymentMethod: 'pm_card_visa', actor: null }] });
    payment.catch(() => undefined);
    try {
      await eventually(async () => (await knex('booking_events').where({ booking_id: b.bookingId, type: 'payment_captured' })).length === 1, 60_000, 50);
      // The record step is running, and waiting for the row.
      await eventually(async () => {
        const { rows } = await knex.raw(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%from "bookings"%for update%'`);
        return rows[0].n > 0;
      }, 30_000, 50);
      await kill(worker);
    } finally {
      await lock.rollback();
    }
    expect(await knex('booking_events').where({ booking_id: b.bookingId, type: 'payment_recorded' })).to.have.length(0);
    expect(await seats(b.s.departureId)).to.deep.equal({ held: 1, sold: 0 });

    worker = startWorkerProcess(b.prefix, { STRIPE_SECRET_KEY: 'sk_test_spirit', STRIPE_API_BASE: stack().stripe.url });
    try {
      expect((await payment).outcome).to.equal('succeeded');
    } finally {
      await kill(worker);
    }
    const p = await expectChargedOnce(b.bookingId, b.s.departureId);
    const charges = await knex('sandbox_payments').where({ booking_id: b.bookingId });
    expect(charges).to.have.length(1);
    expect(charges[0]).to.include({ status: 'captured', captured_minor: 10000 });
    expect(await knex('sandbox_operations').where({ payment_id: charges[0].id, kind: 'capture' })).to.have.length(1);
    expect(p.provider_ref).to.equal(charges[0].id);
  });
});
