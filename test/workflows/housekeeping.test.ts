import { expect } from 'chai';
import { placeHold } from '../../models/holds';
import { bookingWorkflowId } from '../../workflows/booking-messages';
import { taskQueue, taskQueues } from '../../temporal.config';
import { stack } from '../support/stack';
import { api, loginAs } from '../support/http';
import { bookingStatus, eventually, scenario } from '../support/bookings';

describe('housekeeping workflow', () => {
  it('deletes idempotency keys past their day and spent refresh tokens, on the real worker', async () => {
    const { knex, temporal } = stack();
    await knex('idempotency_keys').insert([
      { principal: 'anonymous', key: 'old', method: 'POST', path: '/x', request_hash: 'h', created_at: knex.raw(`now() - interval '25 hours'`) },
      { principal: 'anonymous', key: 'fresh', method: 'POST', path: '/x', request_hash: 'h' },
    ]);
    const user = await knex('users').where({ email: 'admin@demo.test' }).first();
    await knex('refresh_tokens').insert([
      { id: '00000000-0000-4000-8000-00000000000a', user_id: user.id, family_id: '00000000-0000-4000-8000-00000000000f', expires_at: knex.raw(`now() - interval '1 minute'`) },
      { id: '00000000-0000-4000-8000-00000000000b', user_id: user.id, family_id: '00000000-0000-4000-8000-00000000000f', expires_at: knex.raw(`now() + interval '1 day'`) },
    ]);
    const result = await temporal.workflow.execute('housekeepingWorkflow', {
      taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-test-${Date.now()}`, args: [{}],
    });
    expect(result.idempotencyKeysDeleted).to.be.at.least(1);
    expect(result.refreshTokensDeleted).to.be.at.least(1);
    expect(await knex('idempotency_keys').whereIn('key', ['old', 'fresh']).pluck('key')).to.deep.equal(['fresh']);
    expect(await knex('refresh_tokens').whereIn('id', ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b']).pluck('id'))
      .to.deep.equal(['00000000-0000-4000-8000-00000000000b']);
  });

  it('starts the workflow of a booking whose start never happened (the hold is the outbox), once, and that workflow takes the payment', async function () {
    this.timeout(60_000);
    const { knex, temporal } = stack();
    const s = await scenario({ daysAhead: 20 });
    const customer = await knex('users').where({ email: 'customer@demo.test' }).first();
    // A hold written, and the API's workflow start lost (as if the process died right after the commit).
    const held = await placeHold(knex, {
      departureId: s.departureId, passengers: [{ type: 'adult', firstName: 'Lost', lastName: 'Start' }], contact: { name: 'Lost Start', email: 'lost.start@example.com' },
      language: 'en', customerId: customer.customer_id, partnerId: null, onAccount: false, createdByUserId: customer.id,
    });
    const handle = temporal.workflow.getHandle(bookingWorkflowId(held.bookingId));
    const exists = () => handle.describe().then(() => true, (err) => { if (err.name === 'WorkflowNotFoundError') return false; throw err; });
    expect(await exists()).to.equal(false);
    expect((await knex('bookings').where({ id: held.bookingId }).first()).workflow_started_at).to.equal(null);
    const run = (options: object) => temporal.workflow.execute('housekeepingWorkflow', {
      taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-start-${held.bookingId}-${Math.random()}`, args: [options],
    });
    // Within the grace period it is left alone (the API may still be starting it).
    await run({ bookingGraceSeconds: 3600 });
    expect(await exists()).to.equal(false);

    const result = await run({ bookingGraceSeconds: 0 });
    expect(result.bookingWorkflowsStarted).to.be.at.least(1);
    expect(await exists()).to.equal(true);
    await eventually(async () => (await knex('bookings').where({ id: held.bookingId }).first()).workflow_started_at, 20_000, 100);
    const { runId } = await handle.describe();
    await run({ bookingGraceSeconds: 0 });
    expect((await handle.describe()).runId).to.equal(runId); // started once

    const token = await loginAs('customer');
    const paid = await api('POST', `/api/v1/bookings/${held.bookingId}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    expect(await bookingStatus(held.bookingId)).to.equal('paid_in_full');
  });
});
