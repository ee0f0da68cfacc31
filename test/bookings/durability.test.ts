import { expect } from 'chai';
import { placeHold } from '../../models/holds';
import { payUpdate, bookingWorkflowId, BookingStatusAttribute } from '../../workflows/booking-messages';
import { stack } from '../support/stack';
import { killAllWorkerProcesses, startWorkerProcess } from '../support/worker-process';
import { runId } from '../support/env';
import { bookingStatus, eventually, hold, scenario } from '../support/bookings';
import { api, loginAs } from '../support/http';


describe('booking durability', function () {
  this.timeout(120_000);
  after(killAllWorkerProcesses);

  it('finishes with exactly one charge when the worker is SIGKILLed in the middle of the saga', async () => {
    const { knex, temporal } = stack();
    const prefix = `crash-${runId}-`;
    const s = await scenario({
      daysAhead: 20,
      components: [
        { kind: 'hotel', supplier: 'sim', description: 'Hotel night 1' },
        { kind: 'flight', supplier: 'sim', description: 'Flight out' },
        { kind: 'flight', supplier: 'sim', description: 'Flight back' },
      ],
    });
    const customer = await knex('users').where({ email: 'customer@demo.test' }).first();
    const held = await placeHold(knex, {
      departureId: s.departureId, passengers: [{ type: 'adult', firstName: 'K', lastName: 'Ill' }], contact: { name: 'K Ill', email: 'k@example.com' },
      language: 'en', customerId: customer.customer_id, partnerId: null, onAccount: false, createdByUserId: customer.id,
    });
    let worker = startWorkerProcess(prefix, { SUPPLIER_LATENCY_MS: '1500' }, 'pipe');
    const handle = await temporal.workflow.start('bookingWorkflow', {
      workflowId: bookingWorkflowId(held.bookingId), taskQueue: `${prefix}bookings`, args: [{ bookingId: held.bookingId }],
    });
    const payment = handle.executeUpdate(payUpdate, { args: [{ provider: 'sandbox', paymentMethod: 'pm_card_visa', actor: null }] });
    payment.catch(() => undefined);
    // Kill it while the second component is being reserved (each takes 1.5 s).
    await eventually(async () => (await knex('booking_events').where({ booking_id: held.bookingId, type: 'component_confirmed' })).length >= 1, 60_000, 50);
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    const atKill = await knex('booking_events').where({ booking_id: held.bookingId }).pluck('type');
    expect(atKill).to.not.include('payment_captured');

    worker = startWorkerProcess(prefix, { SUPPLIER_LATENCY_MS: '1500' }, 'pipe');
    try {
      const result = await payment;
      expect(result.outcome).to.equal('succeeded');
      await eventually(async () => (await bookingStatus(held.bookingId)) === 'paid_in_full', 60_000);
    } finally {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
    }
    const charges = await knex('sandbox_payments').where({ booking_id: held.bookingId });
    expect(charges).to.have.length(1);
    expect(charges[0]).to.include({ status: 'captured', captured_minor: 10000 });
    const captures = await knex('sandbox_operations').where({ payment_id: charges[0].id, kind: 'capture' });
    expect(captures).to.have.length(1);
    expect(await knex('payments').where({ booking_id: held.bookingId })).to.have.length(1);
    expect(await knex('supplier_reservations').where({ booking_id: held.bookingId }).pluck('status')).to.deep.equal(['confirmed', 'confirmed', 'confirmed']);
    const b = await knex('bookings').where({ id: held.bookingId }).first();
    expect(b.amount_paid_minor).to.equal(10000);
    const recorded = await knex('booking_events').where({ booking_id: held.bookingId, type: 'payment_recorded' });
    expect(recorded).to.have.length(1);
  });

  it('publishes the booking status as a search attribute, so Temporal can list bookings by it', async () => {
    const { temporal } = stack();
    const s = await scenario({ daysAhead: 20 });
    const token = await loginAs('customer');
    const booking = await hold(token, s.departureId, 1);
    await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token, body: { reason: 'search attribute test' } });
    const query = `WorkflowId = '${bookingWorkflowId(booking.id)}' AND BookingStatus = 'cancelled'`;
    const found = await eventually(async () => {
      for await (const wf of temporal.workflow.list({ query })) return wf;
      return undefined;
    }, 20_000, 250);
    expect(found.typedSearchAttributes.get(BookingStatusAttribute)).to.deep.equal(['cancelled']);
    const none = temporal.workflow.list({ query: `WorkflowId = '${bookingWorkflowId(booking.id)}' AND BookingStatus = 'confirmed'` });
    for await (const wf of none) expect.fail(`unexpected ${wf.workflowId}`);
  });
});
