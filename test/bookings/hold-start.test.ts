/**
 * A hold's answer does not wait for its workflow: the booking row is the outbox. The API starts
 * the workflow once the answer is written (a failure is counted, not the customer's problem), a
 * `pay` right after the hold starts it itself if it is not there yet (update-with-start), and the
 * housekeeping relay starts any that is still missing. Whatever the order, one workflow per booking.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../api/app';
import { registry } from '../../api/metrics';
import { freePort } from '../../platform/dev-services';
import { logger } from '../../platform/logger';
import { lazyTemporal } from '../../platform/temporal';
import { taskQueue, taskQueues } from '../../temporal.config';
import { bookingWorkflowId } from '../../workflows/booking-messages';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { bookingStatus, eventually, holdBody, scenario } from '../support/bookings';

async function startsCounted(outcome: 'started' | 'failed'): Promise<number> {
  const metric = await registry.getSingleMetric('spirit_booking_workflow_starts_total')!.get();
  return metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

/** Every execution (runs) the Temporal server has had with this booking's workflow id. */
async function executions(bookingId: string): Promise<number> {
  let n = 0;
  for await (const _ of stack().temporal.workflow.list({ query: `WorkflowId = '${bookingWorkflowId(bookingId)}'` })) n++;
  return n;
}

/** Exactly one execution, once visibility (eventually consistent) shows any. */
async function expectOneExecution(bookingId: string): Promise<void> {
  await eventually(async () => (await executions(bookingId)) >= 1);
  expect(await executions(bookingId)).to.equal(1);
}

/** The same API as the test stack's, on the same database, but its Temporal is a port nothing listens on. */
async function apiWithoutTemporal(): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const nowhere = lazyTemporal(`127.0.0.1:${await freePort()}`);
  const app = createApp({ knex: stack().knex, temporalConnection: nowhere.connection, temporalClient: nowhere.client, logger });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await nowhere.close();
    },
  };
}

async function holdAt(baseUrl: string, token: string, departureId: string) {
  const res = await fetch(`${baseUrl}/api/v1/bookings`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(holdBody(departureId, 2)),
  });
  return { status: res.status, body: (await res.json()) as { id: string; status: string } };
}

async function runRelay(): Promise<number> {
  const result = await stack().temporal.workflow.execute('housekeepingWorkflow', {
    taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-hold-start-${Date.now()}`, args: [{ bookingGraceSeconds: 0 }],
  });
  return result.bookingWorkflowsStarted;
}

const pay = (token: string, id: string) => api('POST', `/api/v1/bookings/${id}/payments`, { token, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });

describe('hold: the answer does not wait for the workflow start', function () {
  this.timeout(90_000);

  it('holds then pays at once: confirmed, exactly one workflow', async () => {
    const s = await scenario({ daysAhead: 50 }); // a deposit plan: paying confirms
    const token = await loginAs('customer');
    const started = await startsCounted('started');
    const held = await api('POST', '/api/v1/bookings', { token, body: holdBody(s.departureId, 2) });
    expect(held.status).to.equal(201);
    // No waiting for anything: the payment races the API's own start of the workflow.
    const paid = await pay(token, held.body.id);
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    expect(paid.body).to.include({ bookingStatus: 'confirmed', status: 'captured' });
    await eventually(async () => (await startsCounted('started')) > started);
    await expectOneExecution(held.body.id);
    expect(await bookingStatus(held.body.id)).to.equal('confirmed');
  });

  it('answers a hold while Temporal is unreachable, counts the failed start, and pay then the relay make one workflow', async () => {
    const s = await scenario({ daysAhead: 50 }); // a deposit plan: paying confirms
    const token = await loginAs('customer');
    const offline = await apiWithoutTemporal();
    try {
      const failed = await startsCounted('failed');
      const held = await holdAt(offline.baseUrl, token, s.departureId);
      expect(held.status).to.equal(201);
      expect(held.body.status).to.equal('held');
      await eventually(async () => (await startsCounted('failed')) > failed);
      expect(await executions(held.body.id)).to.equal(0);
      expect((await stack().knex('bookings').where({ id: held.body.id }).first()).workflow_started_at).to.equal(null);

      // Paid through an API that reaches Temporal, before any workflow exists: update-with-start.
      const paid = await pay(token, held.body.id);
      expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
      expect(paid.body.bookingStatus).to.equal('confirmed');
      // The relay comes by: the workflow already runs, so it starts nothing new.
      await runRelay();
      await expectOneExecution(held.body.id);
      expect(await bookingStatus(held.body.id)).to.equal('confirmed');
    } finally {
      await offline.close();
    }
  });

  it('relays a hold whose workflow never started: housekeeping starts it, once', async () => {
    const s = await scenario({ daysAhead: 50 }); // a deposit plan: paying confirms
    const token = await loginAs('customer');
    const offline = await apiWithoutTemporal();
    let id: string;
    try {
      id = (await holdAt(offline.baseUrl, token, s.departureId)).body.id;
    } finally {
      await offline.close();
    }
    expect(await executions(id)).to.equal(0);
    expect(await runRelay()).to.be.at.least(1);
    await eventually(async () => (await stack().knex('bookings').where({ id }).first()).workflow_started_at);
    await expectOneExecution(id);
    // Relayed again while the workflow runs (as when the relay races the API's start, or a run
    // before markWorkflowStarted): the start is refused by workflow id, still one workflow.
    await stack().knex('bookings').where({ id }).update({ workflow_started_at: null });
    expect(await runRelay()).to.be.at.least(1);
    await new Promise((r) => setTimeout(r, 500)); // let visibility catch up with a start, had there been one
    expect(await executions(id)).to.equal(1);
    const paid = await pay(token, id);
    expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
    expect(paid.body.bookingStatus).to.equal('confirmed');
    expect(await executions(id)).to.equal(1);
  });
});
