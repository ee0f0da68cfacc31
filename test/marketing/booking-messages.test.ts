/**
 * Booking messages leave the saga: queueMessage only records them and the message dispatcher
 * delivers them (real workers, Temporal, PostgreSQL, the local SendGrid stand-in). A provider
 * outage never holds up a payment; a configuration error fails the message with its reason; an
 * ambiguous hand-over is unknown, never resent; the waitlist offer is delivered with its link
 * and expiry; WhatsApp rows go their own way (booking-messages-whatsapp.test.ts); housekeeping wakes the dispatcher as a safety net.
 */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, holdBody, scenario } from '../support/bookings';
import { taskQueue, taskQueues } from '../../temporal.config';
import { messageDispatchWorkflowId, wakeMessageDispatcher } from '../../activities/messaging/booking-messages';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const outbox = (bookingId: string) => stack().knex('outbox_messages').where({ booking_id: bookingId }).orderBy('id');
const sendId = (row: { id: string | number }) => `bk-${row.id}`;

async function confirmedBooking(email: string) {
  const s = await scenario({ daysAhead: 20, adultMinor: 8000 });
  const token = await loginAs('customer');
  const res = await api('POST', '/api/v1/bookings', { token, body: { ...holdBody(s.departureId, 1), contact: { name: 'Mia Test', email, phone: '+34600111222' } } });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  const paid = await api('POST', `/api/v1/bookings/${res.body.id}/payments`, { token, body: { paymentMethod: 'pm_card_visa' } });
  expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
  expect(paid.body.bookingStatus).to.be.oneOf(['confirmed', 'paid_in_full']);
  return res.body as { id: string; reference: string };
}

describe('booking messages, delivered by the message dispatcher', function () {
  this.timeout(120_000);
  afterEach(async () => {
    await stack().sendgrid.up();
    stack().sendgrid.dropNext(0);
    stack().sendgrid.failNext(200, 0);
  });

  it('confirms a payment while the email provider is down; the emails go out, once, when it is back', async () => {
    await stack().sendgrid.down();
    await pause(300); // the worker's kept-alive sockets are seen closed
    const email = `outage.${Date.now()}@example.com`;
    const booking = await confirmedBooking(email); // before: pay waited on the provider, retrying forever
    const deferred = await eventually(async () => {
      const rows = await outbox(booking.id).where({ channel: 'email' });
      return rows.length === 1 && rows.every((r) => r.status === 'queued' && r.attempts >= 1) ? rows : undefined;
    }, 30_000, 200);
    for (const row of deferred) {
      expect(row.error).to.match(/not sent: .*ECONNREFUSED/);
      expect(new Date(row.next_attempt_at).getTime()).to.be.greaterThan(Date.now() - 1000);
    }
    await stack().sendgrid.up();
    const sent = await eventually(async () => {
      const rows = await outbox(booking.id).where({ channel: 'email' });
      return rows.every((r) => r.status === 'sent') ? rows : undefined;
    }, 60_000, 250);
    expect(sent.map((r) => r.template)).to.deep.equal(['booking_confirmation']);
    for (const row of sent) expect(stack().sendgrid.acceptedSendIds.get(sendId(row)), row.template).to.equal(1);
    // The WhatsApp copy went its own way (the simulator, or waiting out the quiet hours), untouched by the email outage.
    const [whatsapp] = await outbox(booking.id).where({ channel: 'whatsapp' });
    expect(whatsapp.status === 'sent' || (whatsapp.status === 'queued' && /quiet hours/.test(whatsapp.error ?? '')), JSON.stringify(whatsapp)).to.equal(true);
  });

  it('fails a message with the reason on a configuration error (bad key), without retrying it', async () => {
    const booking = await confirmedBooking(`configured.${Date.now()}@example.com`);
    await eventually(async () => (await outbox(booking.id).where({ channel: 'email' })).every((r) => r.status === 'sent'), 30_000, 200);
    const { knex } = stack();
    stack().sendgrid.failNext(401, 1);
    const [row] = await knex('outbox_messages').insert({
      channel: 'email', recipient: `configured.${Date.now()}@example.com`, template: 'review_request', language: 'en', booking_id: booking.id,
      data: JSON.stringify({}), dedupe_key: `booking-${booking.id}/test-401/email`,
    }).returning('*');
    await kickDispatcher();
    const failed = await eventually(async () => {
      const r = await knex('outbox_messages').where({ id: row.id }).first();
      return r.status === 'failed' ? r : undefined;
    }, 30_000, 200);
    expect(failed.error).to.match(/SendGrid refused the API key \(401\)/);
    expect(failed.attempts).to.equal(1);
    await pause(1500);
    expect((await knex('outbox_messages').where({ id: row.id }).first()).attempts).to.equal(1);
    expect(stack().sendgrid.acceptedSendIds.has(sendId(row))).to.equal(false);
  });

  it('fails, unclaimed and with the reason, a message whose template does not exist', async () => {
    const booking = await confirmedBooking(`template.${Date.now()}@example.com`);
    const { knex } = stack();
    const [row] = await knex('outbox_messages').insert({
      channel: 'email', recipient: 'nobody@example.com', template: 'no_such_template', language: 'es', booking_id: booking.id,
      data: JSON.stringify({}), dedupe_key: `booking-${booking.id}/test-template/email`,
    }).returning('*');
    await kickDispatcher();
    const failed = await eventually(async () => {
      const r = await knex('outbox_messages').where({ id: row.id }).first();
      return r.status === 'failed' ? r : undefined;
    }, 30_000, 200);
    expect(failed.error).to.equal('no transactional template "no_such_template" in es or en');
    expect(failed.attempts).to.equal(0); // never claimed
  });

  it('marks unknown, and never resends, a message whose request SendGrid read and then reset', async () => {
    const email = `dropped.${Date.now()}@example.com`;
    stack().sendgrid.dropNext(1);
    const booking = await confirmedBooking(email);
    const unknown = await eventually(async () => {
      const r = await outbox(booking.id).where({ channel: 'email' });
      return r.length === 1 && r[0].status !== 'queued' && r[0].status !== 'sending' ? r : undefined;
    }, 30_000, 200);
    expect(unknown.map((r) => r.status)).to.deep.equal(['unknown']);
    expect(unknown[0].error).to.match(/after the request was written/);
    expect(stack().sendgrid.droppedSendIds.get(sendId(unknown[0]))).to.equal(1);
    await kickDispatcher();
    await pause(1500);
    expect((await stack().knex('outbox_messages').where({ id: unknown[0].id }).first()).status).to.equal('unknown');
    expect(stack().sendgrid.acceptedSendIds.has(sendId(unknown[0]))).to.equal(false);
    expect(stack().sendgrid.accepted.filter((p) => p.email === email)).to.have.length(0);
  });

  it('turns a claim left by a worker that died mid-call into unknown, never a second copy', async () => {
    const booking = await confirmedBooking(`stale.${Date.now()}@example.com`);
    const { knex } = stack();
    const rows = await knex('outbox_messages').insert([
      { claimed_at: knex.raw(`now() - interval '10 minutes'`), key: 'stale' }, { claimed_at: null, key: 'before-dispatcher' }, { claimed_at: knex.fn.now(), key: 'in-flight' },
    ].map((r) => ({
      channel: 'email', recipient: `stale.${Date.now()}@example.com`, template: 'review_request', language: 'en', booking_id: booking.id,
      data: JSON.stringify({}), dedupe_key: `booking-${booking.id}/test-${r.key}/email`, status: 'sending', claimed_at: r.claimed_at,
    }))).returning('*');
    await kickDispatcher();
    const [stale, old, fresh] = await eventually(async () => {
      const now = await knex('outbox_messages').whereIn('id', rows.map((r) => r.id)).orderBy('id');
      return now[0].status === 'unknown' && now[1].status === 'unknown' ? now : undefined;
    }, 30_000, 200);
    expect(stale.error).to.match(/in flight when its worker stopped/);
    expect(old.status).to.equal('unknown');
    expect(fresh.status).to.equal('sending'); // still within the activity's time: its own worker settles it
    for (const r of rows) expect(stack().sendgrid.acceptedSendIds.has(sendId(r))).to.equal(false);
  });

  it('delivers the waitlist offer, in the party\'s language, with the offer link and its expiry', async () => {
    const s = await scenario({ daysAhead: 40, capacity: 1, adultMinor: 5000 });
    const customer = await loginAs('customer');
    const operator = await loginAs('admin');
    const first = await hold(customer, s.departureId, 1);
    await api('POST', `/api/v1/bookings/${first.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
    const email = `waiting.${Date.now()}@example.com`;
    const entry = await api('POST', `/api/v1/departures/${s.departureId}/waitlist`, {
      token: operator, body: { passengers: holdBody(s.departureId, 1).passengers, contact: { name: 'Lola Espera', email }, language: 'es' },
    });
    expect(entry.status, JSON.stringify(entry.body)).to.equal(201);
    const cancelled = await api('POST', `/api/v1/bookings/${first.id}/cancel`, { token: customer, body: { reason: 'cannot go' } });
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    const offered = await eventually(async () => {
      const e = await stack().knex('waitlist_entries').where({ id: entry.body.id }).first();
      return e.status === 'offered' ? e : undefined;
    });
    const row = await eventually(async () => {
      const r = await stack().knex('outbox_messages').where({ booking_id: offered.offered_booking_id, template: 'waitlist_offer' }).first();
      if (r?.status === 'failed') throw new Error(`the offer failed: ${r.error}`);
      return r?.status === 'sent' ? r : undefined;
    }, 30_000, 200);
    expect(row).to.include({ language: 'es', recipient: email });
    const offer = await stack().knex('bookings').where({ id: offered.offered_booking_id }).first();
    const received = stack().sendgrid.accepted.filter((p) => p.email === email);
    expect(received).to.have.length(1);
    const got = stack().sendgrid.render(received[0]);
    const expires = `${new Intl.DateTimeFormat('es-ES', { dateStyle: 'long', timeStyle: 'short', timeZone: 'Europe/Madrid' }).format(new Date(offer.hold_expires_at))} (Europe/Madrid)`;
    expect(got.subject).to.match(/^Hay plazas libres en Test tour /);
    expect(got.text).to.contain(`Reservar mis plazas: http`).and.contain(`/bookings/${offer.id}`);
    expect(got.text).to.contain(`Oferta válida hasta: ${expires}`);
    expect(got.html).to.contain(`/bookings/${offer.id}`);
  });

  it('is woken by housekeeping when a queued email was never announced', async () => {
    const booking = await confirmedBooking(`quiet.${Date.now()}@example.com`);
    const { knex, temporal } = stack();
    await eventually(async () => (await outbox(booking.id).where({ channel: 'email' })).every((r) => r.status === 'sent'), 30_000, 200);
    // The dispatcher is gone (as after a lost wake-up): only housekeeping can bring it back.
    await temporal.workflow.getHandle(messageDispatchWorkflowId()).terminate('test: a lost wake-up').catch(() => undefined);
    const [row] = await knex('outbox_messages').insert({
      channel: 'email', recipient: `quiet.${Date.now()}@example.com`, template: 'review_request', language: 'en', booking_id: booking.id,
      data: JSON.stringify({}), dedupe_key: `booking-${booking.id}/test-quiet/email`,
    }).returning('*');
    const result = await temporal.workflow.execute('housekeepingWorkflow', {
      taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-dispatch-${Date.now()}`, args: [{}],
    });
    expect(result.messageDispatcherWoken).to.equal(true);
    await eventually(async () => (await knex('outbox_messages').where({ id: row.id }).first()).status === 'sent', 30_000, 200);
  });
});

/** What housekeeping does every minute, now. */
async function kickDispatcher() {
  expect(await wakeMessageDispatcher(async () => stack().temporal)).to.equal(true);
}
