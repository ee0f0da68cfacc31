/**
 * SIGTERM drains a worker: the activity it is running finishes and is reported (attempt 1, no
 * timeout, no retry), it takes no new work, and the process exits cleanly; another worker
 * carries on from there.
 */
import { expect } from 'chai';
import { placeHold } from '../../models/holds';
import { payUpdate, bookingWorkflowId } from '../../workflows/booking-messages';
import { stack } from '../support/stack';
import { killAllWorkerProcesses, startWorkerProcess } from '../support/worker-process';
import { runId } from '../support/env';
import { bookingStatus, eventually, scenario } from '../support/bookings';


describe('worker drain on SIGTERM', function () {
  this.timeout(120_000);
  after(killAllWorkerProcesses);

  it('finishes the supplier reservation in flight, takes nothing new, exits 0; the next worker completes the saga once', async () => {
    const { knex, temporal } = stack();
    const prefix = `drain-${runId}-`;
    const s = await scenario({
      daysAhead: 20,
      components: [{ kind: 'hotel', supplier: 'sim', description: 'Hotel night 1' }, { kind: 'flight', supplier: 'sim', description: 'Flight out' }],
    });
    const customer = await knex('users').where({ email: 'customer@demo.test' }).first();
    const held = await placeHold(knex, {
      departureId: s.departureId, passengers: [{ type: 'adult', firstName: 'Dr', lastName: 'Ain' }], contact: { name: 'Dr Ain', email: 'drain@example.com' },
      language: 'en', customerId: customer.customer_id, partnerId: null, onAccount: false, createdByUserId: customer.id,
    });
    let worker = startWorkerProcess(prefix, { SUPPLIER_LATENCY_MS: '3000' });
    const handle = await temporal.workflow.start('bookingWorkflow', { workflowId: bookingWorkflowId(held.bookingId), taskQueue: `${prefix}bookings`, args: [{ bookingId: held.bookingId }] });
    const payment = handle.executeUpdate(payUpdate, { args: [{ provider: 'sandbox', paymentMethod: 'pm_card_visa', actor: null }] });
    payment.catch(() => undefined);

    // The first reservation is running (it takes 3 s): now SIGTERM.
    await eventually(async () => {
      const { raw } = await handle.describe();
      return (raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'reserveComponent' && Number(a.state) === 2); // 2: PENDING_ACTIVITY_STATE_STARTED
    }, 60_000, 50);
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
    worker.kill('SIGTERM');
    const { code, signal } = await exit;
    expect({ code, signal }).to.deep.equal({ code: 0, signal: null });

    // At its exit: the reservation in flight was made and recorded, and nothing after it was started.
    const events = await knex('booking_events').where({ booking_id: held.bookingId }).pluck('type');
    expect(events.filter((t) => t === 'component_confirmed')).to.have.length(1);
    expect(await knex('supplier_reservations').where({ booking_id: held.bookingId }).pluck('status')).to.deep.equal(['confirmed']);
    const history = (await handle.fetchHistory()).events ?? [];
    const scheduled = history.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'reserveComponent');
    expect(scheduled).to.have.length(1);
    // Reported as completed by the draining worker, on its first attempt (not timed out, not retried).
    const completed = history.find((e) => e.activityTaskCompletedEventAttributes && Number(e.activityTaskCompletedEventAttributes.scheduledEventId) === Number(scheduled[0].eventId));
    expect(completed, 'the in-flight reservation was reported').to.not.equal(undefined);
    const started = history.find((e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled[0].eventId))!;
    expect(started.activityTaskStartedEventAttributes!.attempt).to.equal(1);

    worker = startWorkerProcess(prefix, { SUPPLIER_LATENCY_MS: '3000' });
    try {
      expect((await payment).outcome).to.equal('succeeded');
    } finally {
      worker.kill('SIGKILL');
      await new Promise((resolve) => (worker.exitCode !== null || worker.signalCode !== null ? resolve(null) : worker.once('exit', resolve)));
    }
    expect(await bookingStatus(held.bookingId)).to.equal('paid_in_full');
    expect(await knex('supplier_reservations').where({ booking_id: held.bookingId }).pluck('status')).to.deep.equal(['confirmed', 'confirmed']);
    const charges = await knex('sandbox_payments').where({ booking_id: held.bookingId });
    expect(charges).to.have.length(1);
    expect(charges[0]).to.include({ status: 'captured', captured_minor: 10000 });
  });
});
