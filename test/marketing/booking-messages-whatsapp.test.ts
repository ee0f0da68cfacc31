/**
 * Booking messages on WhatsApp (activities/messaging/whatsapp-messages.ts): the booking
 * confirmation of a customer who opted in reaches the simulator as the approved template with
 * its parameters (outside the 24-hour window), as text inside it; no opt-in → failed with the
 * reason; quiet hours defer; Meta's throttling puts the row back, later, and it then goes out; an
 * ambiguous hand-over is unknown and never resent. Most cases call the dispatch function directly
 * on rows of their own (due tomorrow, so the stack's own dispatcher leaves them alone) with a
 * simulator or a scripted channel; one goes end to end through the booking saga and the real
 * dispatcher. Also the per-number rate limiter.
 */
import { expect } from 'chai';
import crypto from 'node:crypto';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, holdBody, scenario } from '../support/bookings';
import { backoffMs, bookingVariables, outboxClaims } from '../../activities/messaging/booking-messages';
import { dispatchWhatsAppRows } from '../../activities/messaging/whatsapp-messages';
import { SimulatorChannel } from '../../integrations/whatsapp/simulator';
import { RateLimitedChannel, SendRate } from '../../integrations/whatsapp/rate';
import { WhatsAppSendError, type OutboundWhatsApp, type WhatsAppChannel } from '../../integrations/whatsapp/types';
import { localHour } from '../../domain/quiet-hours';
import { config } from '../../platform/config';

const PUBLIC = 'http://spirit.test';

/** A channel that answers what the test scripts (an error, or success). */
class ScriptedChannel implements WhatsAppChannel {
  readonly kind = 'simulator' as const;
  calls: Array<{ to: string; message: OutboundWhatsApp; key: string }> = [];
  constructor(readonly businessId: string, private readonly script: Array<Error | null> = []) {}
  async send(to: string, message: OutboundWhatsApp, key: string) {
    this.calls.push({ to, message, key });
    const next = this.script.shift();
    if (next) throw next;
    return { providerMessageId: `wamid.TEST.${key}` };
  }
  health() { return { channel: 'simulator' as const, state: 'ready' as const }; }
}

const phone = () => `+3469${crypto.randomInt(1_000_000, 9_999_999)}`;
const businessId = () => `test-biz-${crypto.randomBytes(4).toString('hex')}`;

/** A held booking (staff booked it, so its customer is found or created from the contact), with or without WhatsApp opt-in. */
async function booking(opts: { consent: boolean; phone: string; language?: 'es' | 'en' }) {
  const s = await scenario({ daysAhead: 60, adultMinor: 15000 });
  const token = await loginAs('admin');
  const email = `wa.${crypto.randomBytes(5).toString('hex')}@example.com`;
  const res = await api('POST', '/api/v1/bookings', { token, body: { ...holdBody(s.departureId, 1), contact: { name: 'Marta Ruiz', email, phone: opts.phone }, language: opts.language ?? 'es' } });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  const b = await stack().knex('bookings').where({ id: res.body.id }).first();
  await stack().knex('customers').where({ id: b.customer_id }).update({ consent_whatsapp: opts.consent });
  return { ...res.body, customerId: b.customer_id as string, scenario: s, token, email } as { id: string; reference: string; customerId: string; scenario: typeof s; token: string; email: string };
}

/** A queued WhatsApp row of our own, due tomorrow so that only this test's calls deliver it. */
async function row(bookingId: string, recipient: string, template = 'booking_confirmation', data: Record<string, unknown> = {}, language = 'es') {
  const b = await stack().knex('bookings').where({ id: bookingId }).first('reference');
  const [r] = await stack().knex('outbox_messages').insert({
    channel: 'whatsapp', recipient, template, language, booking_id: bookingId, data: JSON.stringify({ reference: b.reference, ...data }),
    dedupe_key: `test-${crypto.randomUUID()}`, next_attempt_at: stack().knex.raw(`now() + interval '1 day'`),
  }).returning('*');
  return r as { id: string };
}

async function dispatch(ids: Array<string | number>, channel: WhatsAppChannel, quietHours = '') {
  const { knex } = stack();
  const rows = await knex('outbox_messages').whereIn('id', ids).orderBy('id').select('id', 'channel', 'recipient', 'template', 'language', 'booking_id', 'data', 'attempts');
  const attemptsById = new Map<string, number>();
  return dispatchWhatsAppRows(knex, rows, {
    channel: () => channel, quietHours, publicUrl: PUBLIC, claims: outboxClaims(knex, attemptsById), attemptsById, backoffMs,
    bookingVariables: (id, data) => bookingVariables(knex, PUBLIC, id, data), heartbeat: () => undefined, deadline: Date.now() + 60_000,
  });
}

const outboxRow = (id: string | number) => stack().knex('outbox_messages').where({ id }).first();

/** What the booking confirmation's parameters must be: first name, reference, tour, departure date (Madrid, long, Spanish). */
async function expectedConfirmation(bookingId: string) {
  const b = await stack().knex('bookings as b').join('departures as d', 'd.id', 'b.departure_id').join('tour_translations as t', (j) => j.on('t.tour_id', 'd.tour_id').andOnVal('t.language', 'en'))
    .where('b.id', bookingId).first('b.reference', 'd.starts_at', 't.title');
  return ['Marta', b.reference, b.title, new Intl.DateTimeFormat('es-ES', { dateStyle: 'long', timeZone: 'Europe/Madrid' }).format(new Date(b.starts_at))];
}

describe('booking messages on WhatsApp', function () {
  this.timeout(120_000);

  it('sends the confirmation to a customer who opted in as the approved template, outside the window, with its parameters', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const r = await row(b.id, to);
    const biz = businessId();
    const result = await dispatch([r.id], new SimulatorChannel(stack().knex, biz));
    expect(result).to.include({ sent: 1, failed: 0, unknown: 0, deferred: 0 });

    const [got] = await stack().knex('whatsapp_simulator_messages').where({ to_number: to, business_number: biz });
    expect(got.message).to.deep.equal({ kind: 'template', name: 'booking_confirmation', language: 'es', parameters: await expectedConfirmation(b.id) });
    const after = await outboxRow(r.id);
    expect(after).to.include({ status: 'sent', provider_message_id: got.wamid, via_template: 'booking_confirmation', attempts: 1 });
  });

  it('sends it as text inside the 24-hour window, and writes it into the customer\'s thread', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const biz = businessId();
    const [conversation] = await stack().knex('conversations').insert({
      channel: 'whatsapp', customer_handle: to, business_handle: biz, window_expires_at: stack().knex.raw(`now() + interval '3 hours'`),
    }).returning('id');
    const r = await row(b.id, to);
    const result = await dispatch([r.id], new SimulatorChannel(stack().knex, biz));
    expect(result.sent).to.equal(1);

    const [name, reference, tour, date] = await expectedConfirmation(b.id);
    const text = `Hola ${name}, tu reserva ${reference} para ${tour} el ${date} está confirmada. ¡Gracias por viajar con Spirit Tours!`;
    const [got] = await stack().knex('whatsapp_simulator_messages').where({ to_number: to, business_number: biz });
    expect(got.message).to.deep.equal({ kind: 'text', text });
    expect((await outboxRow(r.id)).via_template).to.equal(null);
    const thread = await stack().knex('conversation_messages').where({ conversation_id: conversation.id });
    expect(thread).to.have.length(1);
    expect(thread[0]).to.include({ direction: 'out', author: 'bot', text, kind: 'text', delivery_status: 'sent', provider_message_id: got.wamid });
  });

  it('does not send to a customer who never opted in: failed with the reason, never claimed', async () => {
    const to = phone();
    const b = await booking({ consent: false, phone: to });
    const r = await row(b.id, to);
    const channel = new ScriptedChannel(businessId());
    expect(await dispatch([r.id], channel)).to.include({ failed: 1, sent: 0 });
    expect(channel.calls).to.have.length(0);
    const after = await outboxRow(r.id);
    expect(after).to.include({ status: 'failed', attempts: 0 });
    expect(after.error).to.equal(`no WhatsApp opt-in from ${to}: WhatsApp lets a business start a conversation only with people who opted in`);
  });

  it('lets a withdrawal in the contact\'s consent win over the customer record', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    // (The customer sync may have made the contact already.)
    const { rows: [contact] } = await stack().knex.raw(`insert into contacts (email, customer_id, source) values (?, ?, 'customer')
      on conflict (lower(email)) do update set customer_id = excluded.customer_id returning id`, [b.email, b.customerId]);
    await stack().knex('contact_consents').insert({ contact_id: contact.id, channel: 'whatsapp', status: 'withdrawn', source: 'preferences page' })
      .onConflict(['contact_id', 'channel']).merge();
    const r = await row(b.id, to);
    const channel = new ScriptedChannel(businessId());
    await dispatch([r.id], channel);
    expect(channel.calls).to.have.length(0);
    expect(await outboxRow(r.id)).to.include({ status: 'failed', error: 'the customer withdrew WhatsApp consent (preferences page)' });
  });

  it('defers a message in the customer\'s quiet hours until they end (queued, unclaimed)', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const r = await row(b.id, to);
    // Quiet hours around "now" in the booking branch's time zone (Europe/Madrid: the customer has none of their own).
    const h = localHour(new Date(), 'Europe/Madrid');
    const end = (h + 2) % 24;
    const channel = new ScriptedChannel(businessId());
    expect(await dispatch([r.id], channel, `${h}-${end}`)).to.include({ deferred: 1, sent: 0, failed: 0 });
    expect(channel.calls).to.have.length(0);
    const after = await outboxRow(r.id);
    expect(after).to.include({ status: 'queued', attempts: 0 });
    expect(after.error).to.match(new RegExp(`^quiet hours \\(${h}-${end}\\) in Europe/Madrid`));
    const due = new Date(after.next_attempt_at);
    expect(due.getTime() - Date.now()).to.be.greaterThan(59 * 60_000).and.lessThan(2 * 3_600_000 + 60_000);
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Madrid', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(due);
    expect(local).to.equal(`${String(end).padStart(2, '0')}:00`);

    // Outside the quiet hours it goes.
    expect(await dispatch([r.id], channel, `${(h + 3) % 24}-${(h + 4) % 24}`)).to.include({ sent: 1 });
  });

  it('puts a throttled message (130429) back, due later, with the rows after it; then sends them', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const first = await row(b.id, to);
    const second = await row(b.id, to, 'pre_trip_reminder');
    const channel = new ScriptedChannel(businessId(), [new WhatsAppSendError('throttled', '(#130429) Rate limit hit', { code: 130429, httpStatus: 429, retryAfterMs: 8000 })]);
    const before = Date.now();
    expect(await dispatch([first.id, second.id], channel)).to.include({ sent: 0, failed: 0, unknown: 0, deferred: 2 });
    expect(channel.calls).to.have.length(1); // the second waits with the first, untried
    const a = await outboxRow(first.id);
    expect(a).to.include({ status: 'queued', attempts: 1 });
    expect(a.error).to.match(/^not sent \(throttled 130429\)/);
    expect(new Date(a.next_attempt_at).getTime()).to.be.greaterThan(before + 7000);
    const c = await outboxRow(second.id);
    expect(c).to.include({ status: 'queued', attempts: 0 });
    expect(new Date(c.next_attempt_at).getTime()).to.be.greaterThan(before + 7000);

    // Later: both go, the first with its own key, once.
    expect(await dispatch([first.id, second.id], channel)).to.include({ sent: 2 });
    expect(channel.calls.map((call) => call.key)).to.deep.equal([`outbox-${first.id}`, `outbox-${first.id}`, `outbox-${second.id}`]);
    expect((await outboxRow(first.id)).status).to.equal('sent');
    expect(channel.calls[2].message).to.include({ kind: 'template', name: 'pre_trip_reminder' });
  });

  it('never gives up on throttling, even past the attempts limit', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const r = await row(b.id, to);
    await stack().knex('outbox_messages').where({ id: r.id }).update({ attempts: 60 });
    await dispatch([r.id], new ScriptedChannel(businessId(), [new WhatsAppSendError('throttled', 'slow down', { code: 130429 })]));
    expect(await outboxRow(r.id)).to.include({ status: 'queued', attempts: 61 });
  });

  it('marks an ambiguous hand-over unknown and never sends it again; a refusal fails with the reason', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const r = await row(b.id, to);
    const channel = new ScriptedChannel(businessId(), [new WhatsAppSendError('ambiguous', 'socket hang up after the request was written')]);
    expect(await dispatch([r.id], channel)).to.include({ unknown: 1 });
    expect(await outboxRow(r.id)).to.include({ status: 'unknown' });
    await stack().knex('outbox_messages').where({ id: r.id }).update({ next_attempt_at: stack().knex.fn.now() });
    await dispatch([r.id], channel);
    expect(channel.calls).to.have.length(1);
    expect((await outboxRow(r.id)).status).to.equal('unknown');

    const refused = await row(b.id, to);
    await dispatch([refused.id], new ScriptedChannel(businessId(), [new WhatsAppSendError('refused', '(#131026) Message undeliverable', { code: 131026 })]));
    expect(await outboxRow(refused.id)).to.include({ status: 'failed', error: 'refused by WhatsApp: (#131026) Message undeliverable' });
  });

  it('fails, unclaimed, a message with no approved WhatsApp template', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to });
    const r = await row(b.id, to, 'review_request');
    const channel = new ScriptedChannel(businessId());
    await dispatch([r.id], channel);
    expect(channel.calls).to.have.length(0);
    expect(await outboxRow(r.id)).to.include({ status: 'failed', attempts: 0, error: 'no approved WhatsApp template "review_request" in es or en' });
  });

  it('sends CrisisManager\'s notice (no booking id on the row) as crisis_notice, even in quiet hours', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to, language: 'en' });
    const [r] = await stack().knex('outbox_messages').insert({
      channel: 'whatsapp', recipient: to, template: 'crisis_alert', language: 'en', booking_id: null,
      data: JSON.stringify({ reference: b.reference, first_name: 'Marta', message: 'The museum is closed today.', ack_url: `${PUBLIC}/a/token123` }),
      dedupe_key: `test-${crypto.randomUUID()}`, next_attempt_at: stack().knex.raw(`now() + interval '1 day'`),
    }).returning('*');
    const h = localHour(new Date(), 'Europe/Madrid');
    const channel = new ScriptedChannel(businessId());
    expect(await dispatch([r.id], channel, `${h}-${(h + 2) % 24}`)).to.include({ sent: 1 });
    expect(channel.calls[0].message).to.deep.equal({
      kind: 'template', name: 'crisis_notice', language: 'en', parameters: [b.reference, 'The museum is closed today.', `${PUBLIC}/a/token123`],
    });
  });

  it('fills the balance reminder from the booking and its reminder data', async () => {
    const to = phone();
    const b = await booking({ consent: true, phone: to, language: 'en' });
    const r = await row(b.id, to, 'balance_reminder', { dueAt: '2027-03-01', leftMinor: 10500 }, 'en');
    const channel = new ScriptedChannel(businessId());
    await dispatch([r.id], channel);
    expect(channel.calls[0].message).to.deep.equal({
      kind: 'template', name: 'balance_reminder', language: 'en', parameters: ['Marta', b.reference, '€105.00', '1 March 2027', `${PUBLIC}/bookings/${b.id}`],
    });
  });

  it('end to end: paying a booking sends its WhatsApp confirmation through the dispatcher to the simulator', async () => {
    const saved = config.whatsapp.quietHours;
    config.whatsapp.quietHours = ''; // the stack's worker reads it each round: no night in this test
    try {
      const to = phone();
      const b = await booking({ consent: true, phone: to });
      const paid = await api('POST', `/api/v1/bookings/${b.id}/payments`, { token: b.token, body: { paymentMethod: 'pm_card_visa' } });
      expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
      const sent = await eventually(async () => {
        const r = await stack().knex('outbox_messages').where({ booking_id: b.id, channel: 'whatsapp', template: 'booking_confirmation' }).first();
        if (r && r.status !== 'queued' && r.status !== 'sending' && r.status !== 'sent') throw new Error(`the confirmation ended ${r.status}: ${r.error}`);
        return r?.status === 'sent' ? r : undefined;
      }, 30_000, 200);
      const got = await stack().knex('whatsapp_simulator_messages').where({ to_number: to });
      expect(got).to.have.length(1);
      expect(got[0].wamid).to.equal(sent.provider_message_id);
      expect(got[0].message).to.deep.equal({ kind: 'template', name: 'booking_confirmation', language: 'es', parameters: await expectedConfirmation(b.id) });
    } finally {
      config.whatsapp.quietHours = saved;
    }
  });
});

describe('the per-number WhatsApp send rate', () => {
  it('spaces sends 1/rate apart and refuses to queue beyond the longest wait', () => {
    const rate = new SendRate(10);
    expect(rate.reserve(1000, 500)).to.deep.equal({ waitMs: 0 });
    expect(rate.reserve(1000, 500)).to.deep.equal({ waitMs: 100 });
    expect(rate.reserve(1050, 500)).to.deep.equal({ waitMs: 150 });
    rate.pause(1050, 3000);
    expect(rate.reserve(1060, 500)).to.deep.equal({ tooLongMs: 2990 });
    expect(rate.reserve(4050, 500)).to.deep.equal({ waitMs: 0 });
  });

  it('makes every sender of the number back off after Meta throttles one of them, without calling the provider', async () => {
    const biz = businessId();
    const inner = new ScriptedChannel(biz, [new WhatsAppSendError('throttled', '(#130429) Rate limit hit', { code: 130429, retryAfterMs: 30_000 })]);
    const one = new RateLimitedChannel(inner, { messagesPerSecond: 80 });
    const other = new RateLimitedChannel(new ScriptedChannel(biz), { messagesPerSecond: 80 }); // another sender of the same number in this process
    await one.send('+34600000001', { kind: 'text', text: 'a' }, 'k1').then(() => expect.fail('not throttled'), (err) => expect(err).to.have.property('kind', 'throttled'));
    const err = await other.send('+34600000002', { kind: 'text', text: 'b' }, 'k2').then(() => null, (e) => e);
    expect(err).to.be.instanceOf(WhatsAppSendError).with.property('kind', 'throttled');
    expect(err.details.retryAfterMs).to.be.greaterThan(25_000);
    expect(inner.calls).to.have.length(1);
  });
});
