import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApp } from '../../api/app';
import { createLiveEvents, LISTENER_NAME } from '../../api/live-events';
import { hardening } from '../../platform/config';
import { logger } from '../../platform/logger';
import { lazyTemporal } from '../../platform/temporal';
import { eventually, hold, scenario, type Scenario } from '../support/bookings';
import { openEventStream, type EventStream } from '../support/event-stream';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { createUser, login, startInstance } from './account-support';

const tokenOf = async (user: { email: string }) => (await login(user.email)).body.accessToken as string;

/** A timeline line written as an activity writes one, answering when the write started. */
async function writeBookingEvent(bookingId: string, type = 'note_added'): Promise<number> {
  const started = Date.now();
  await stack().knex('booking_events').insert({ booking_id: bookingId, type, actor: 'system', data: JSON.stringify({ test: true }) });
  return started;
}

describe('live events (GET /api/v1/events)', () => {
  let s: Scenario;
  const streams: EventStream[] = [];
  const open = async (token: string | undefined, baseUrl?: string) => {
    const st = await openEventStream(token, baseUrl);
    streams.push(st);
    return st;
  };
  const ready = async (token: string | undefined, baseUrl?: string) => {
    const st = await open(token, baseUrl);
    expect(st.status).to.equal(200);
    await st.waitFor((m) => m.event === 'ready');
    return st;
  };

  before(async () => {
    s = await scenario({ daysAhead: 20, capacity: 60 });
  });
  afterEach(() => {
    for (const st of streams.splice(0)) st.close();
  });

  it('refuses a request without an access token (401) or with a bad one', async () => {
    const none = await api('GET', '/api/v1/events');
    expect(none.status).to.equal(401);
    expect(none.body.code).to.equal('authentication_required');
    const bad = await api('GET', '/api/v1/events', { token: 'not-a-token' });
    expect(bad.status).to.equal(401);
  });

  it('answers an uncached, untransformed text/event-stream that starts with a retry hint and "ready"', async () => {
    const st = await ready(await loginAs('operator'));
    expect(st.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
    expect(st.headers.get('cache-control')).to.equal('no-cache, no-store, no-transform');
    expect(st.headers.get('x-accel-buffering')).to.equal('no');
    expect(st.headers.get('content-encoding')).to.equal(null);
    expect(st.messages[0]).to.include({ event: 'retry', retry: 3000 });
  });

  it('a booking made through the API reaches its customer, admins and its branch within a second; others do not hear of it', async () => {
    const customer = await loginAs('customer');
    const operatorOfBranch = await createUser('operator', { branch_id: s.branchId });
    const [mine, admin, operator, marketer, otherOperator] = await Promise.all([
      ready(customer), ready(await loginAs('admin')), ready(await tokenOf(operatorOfBranch)), ready(await loginAs('marketer')), ready(await loginAs('operator')),
    ]);

    const booking = await hold(customer, s.departureId, 1);
    const got = await mine.waitForEvent((e) => e.kind === 'booking' && e.bookingId === booking.id, 5_000);
    const row = await stack().knex('booking_events').where({ booking_id: booking.id, type: got.type }).first('occurred_at', 'type');
    const latency = got.at - new Date(row.occurred_at).getTime();
    console.log(`      live event latency (booking via the API, event "${row.type}" written → received by the customer's stream): ${latency} ms`);
    expect(latency).to.be.below(5_000);
    expect(got).to.include({ kind: 'booking', id: booking.id, branchId: s.branchId });
    await admin.waitForEvent((e) => e.bookingId === booking.id);
    await operator.waitForEvent((e) => e.bookingId === booking.id);

    // A later event each of them does receive: once it is there, the earlier one would have been too.
    const written = Date.now();
    await stack().knex('contact_imports').insert({ status: 'running' });
    await marketer.waitForEvent((e) => e.kind === 'contact_import');
    const importId = (await stack().knex('contact_imports').orderBy('started_at', 'desc').first('id')).id;
    console.log(`      live event latency (contact import row inserted → received by the marketer's stream): ${Date.now() - written} ms`);
    expect(marketer.events().filter((e) => e.kind === 'booking')).to.deep.equal([]);
    await stack().knex('approvals').insert({ kind: 'agent_action', status: 'pending', workflow_id: 'wf-test', reason: 'sentinel', dedupe_key: `sentinel-${importId}`, agent_run_id: await agentRun() });
    await otherOperator.waitForEvent((e) => e.kind === 'approval' && e.type === 'agent_action');
    expect(otherOperator.events().filter((e) => e.bookingId === booking.id)).to.deep.equal([]); // another branch, not theirs
  });

  it('a partner hears of its own bookings only', async () => {
    const { knex } = stack();
    const base = await knex('partners').first();
    const [other] = await knex('partners').insert({
      ...base, id: undefined, code: `P-${crypto.randomBytes(3).toString('hex')}`, name: 'Other agency', created_at: undefined, updated_at: undefined,
    }).returning('id');
    const partnerA = await loginAs('partner');
    const partnerB = await tokenOf(await createUser('partner', { partner_id: other.id }));
    const [a, b] = await Promise.all([ready(partnerA), ready(partnerB)]);

    const bookingB = await hold(partnerB, s.departureId, 1);
    const bookingA = await hold(partnerA, s.departureId, 1);
    await b.waitForEvent((e) => e.bookingId === bookingB.id);
    await a.waitForEvent((e) => e.bookingId === bookingA.id);
    // B's line is committed before A's, and one connection hears them in that order.
    await writeBookingEvent(bookingB.id);
    const t = await writeBookingEvent(bookingA.id, 'partner_check');
    const seen = await a.waitForEvent((e) => e.bookingId === bookingA.id && e.type === 'partner_check');
    console.log(`      live event latency (booking_events row inserted → received by the partner's stream): ${seen.at - t} ms`);
    expect(a.events().filter((e) => e.bookingId === bookingB.id)).to.deep.equal([]);
    expect(b.events().filter((e) => e.bookingId === bookingA.id)).to.deep.equal([]);
    expect(seen.partnerId).to.equal((await knex('bookings').where({ id: bookingA.id }).first('partner_id')).partner_id);
  });

  it('a customer sees their own bookings, not another customer\'s', async () => {
    const me = await loginAs('customer');
    const someoneElse = await tokenOf(await createUser('customer'));
    const stream = await ready(me);
    const theirs = await hold(someoneElse, s.departureId, 1);
    const mine = await hold(me, s.departureId, 1);
    await writeBookingEvent(theirs.id);
    await writeBookingEvent(mine.id, 'customer_check');
    await stream.waitForEvent((e) => e.bookingId === mine.id && e.type === 'customer_check');
    expect(stream.events().filter((e) => e.bookingId === theirs.id)).to.deep.equal([]);
  });

  it('approvals and conversations: the branch\'s operator hears them, with the approval\'s status change', async () => {
    const { knex } = stack();
    const operator = await ready(await tokenOf(await createUser('operator', { branch_id: s.branchId })));
    const accountant = await ready(await tokenOf(await createUser('accountant', { branch_id: s.branchId })));
    const booking = await hold(await loginAs('customer'), s.departureId, 1);
    const [approval] = await knex('approvals').insert({
      booking_id: booking.id, branch_id: s.branchId, kind: 'manual_refund', status: 'pending', workflow_id: 'wf-test', amount_minor: 100, currency: 'EUR', reason: 'test', dedupe_key: `test-${booking.id}`,
    }).returning('id');
    await operator.waitForEvent((e) => e.kind === 'approval' && e.id === approval.id && e.status === 'pending');
    await knex('approvals').where({ id: approval.id }).update({ status: 'rejected', decided_at: new Date() });
    await operator.waitForEvent((e) => e.kind === 'approval' && e.id === approval.id && e.status === 'rejected');
    await accountant.waitForEvent((e) => e.kind === 'approval' && e.id === approval.id && e.status === 'rejected');

    const [conversation] = await knex('conversations').insert({ channel: 'web', customer_handle: `visitor-${crypto.randomBytes(4).toString('hex')}` }).returning('id');
    await knex('conversation_messages').insert({ conversation_id: conversation.id, direction: 'in', author: 'customer', text: 'hola' });
    const e = await operator.waitForEvent((x) => x.kind === 'conversation' && x.conversationId === conversation.id);
    expect(e).to.include({ id: conversation.id, status: 'bot' });
    await knex('conversations').where({ id: conversation.id }).update({ status: 'waiting_human' });
    await operator.waitForEvent((x) => x.kind === 'conversation' && x.conversationId === conversation.id && x.status === 'waiting_human');
    expect(accountant.events().filter((x) => x.kind === 'conversation')).to.deep.equal([]);
  });

  it('campaign progress reaches marketers coalesced: a burst of recipient updates is at most one event now and one at the end of 250 ms', async () => {
    const { knex } = stack();
    const marketer = await ready(await loginAs('marketer'));
    const [segment] = await knex('segments').insert({ name: 'live events test', rules: JSON.stringify({}) }).returning('id');
    const [campaign] = await knex('campaigns').insert({ name: 'live', segment_id: segment.id, variants: JSON.stringify([]), provider: 'outbox', rate_per_second: 10 }).returning('id');
    const tag = crypto.randomBytes(4).toString('hex');
    const contacts = await knex('contacts').insert(Array.from({ length: 10 }, (_, i) => ({ email: `live-${tag}-${i}@example.com`, source: 'api' }))).returning(['id', 'email']);
    await knex('campaign_recipients').insert(contacts.map((c) => ({ campaign_id: campaign.id, contact_id: c.id, email: c.email, variant: 'A' })));
    const started = Date.now();
    await knex('campaign_recipients').where({ campaign_id: campaign.id }).update({ status: 'claimed', claimed_at: new Date() }); // one statement: one notification
    const first = await marketer.waitForEvent((e) => e.kind === 'campaign' && e.campaignId === campaign.id);
    expect(first.at - started).to.be.below(5_000);
    for (const c of contacts) await knex('campaign_recipients').where({ campaign_id: campaign.id, contact_id: c.id }).update({ status: 'sent', sent_at: new Date() });
    await knex('campaigns').where({ id: campaign.id }).update({ status: 'sent' });
    const last = await marketer.waitForEvent((e) => e.campaignId === campaign.id && e.status === 'sent', 3_000);
    await new Promise((r) => setTimeout(r, 600));
    const received = marketer.events().filter((e) => e.campaignId === campaign.id);
    console.log(`      campaign progress: 12 notifications in ${last.at - started} ms → ${received.length} events`);
    expect(received.length).to.be.within(2, 4);
  });

  it('two API instances on the same database both deliver one NOTIFY', async () => {
    const other = await startInstance();
    try {
      const admin = await loginAs('admin');
      const [here, there] = await Promise.all([ready(admin), ready(admin, other.baseUrl)]);
      const booking = await hold(await loginAs('customer'), s.departureId, 1);
      const t = await writeBookingEvent(booking.id, 'two_instances');
      const [a, b] = await Promise.all([
        here.waitForEvent((e) => e.bookingId === booking.id && e.type === 'two_instances'),
        there.waitForEvent((e) => e.bookingId === booking.id && e.type === 'two_instances'),
      ]);
      console.log(`      live event latency (one row written → instance 1: ${a.at - t} ms, instance 2: ${b.at - t} ms)`);
      expect(Math.max(a.at, b.at) - t).to.be.below(5_000);
    } finally {
      await other.close();
    }
  });

  it('ends cleanly when the client goes away: the instance forgets the stream', async () => {
    const other = await startInstance();
    try {
      const st = await ready(await loginAs('accountant'), other.baseUrl);
      expect(other.app.context.liveEvents.size).to.equal(1);
      st.close();
      await eventually(async () => other.app.context.liveEvents.size === 0, 5_000, 20);
    } finally {
      await other.close();
    }
  });

  it('a client that stops reading is cut once 256 KB wait unsent, not buffered without bound', async () => {
    const other = await startInstance();
    try {
      const booking = await hold(await loginAs('customer'), s.departureId, 1);
      const token = await loginAs('admin');
      let response: http.IncomingMessage | undefined;
      const closed = new Promise<void>((resolve, reject) => {
        const req = http.get(`${other.baseUrl}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          response = res;
          res.pause(); // reads nothing, until the end of the test
          res.on('close', () => resolve());
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve());
      });
      await eventually(async () => other.app.context.liveEvents.listening && other.app.context.liveEvents.size === 1, 5_000, 20);
      // One transaction, 20,000 notifications (~5 MB of events): far more than the socket buffers hold.
      await stack().knex.raw(`insert into booking_events (booking_id, type, actor, data) select ?, 'flood_' || n, 'system', '{}' from generate_series(1, 20000) n`, [booking.id]);
      await eventually(async () => other.app.context.liveEvents.size === 0, 10_000, 50);
      response!.resume(); // what was sent before the cut, then the connection's end
      await closed;
    } finally {
      await other.close();
    }
  });

  it('a lost LISTEN connection comes back by itself, and its streams are told to resync (events may have been missed)', async () => {
    const other = await startInstance();
    try {
      const booking = await hold(await loginAs('customer'), s.departureId, 1);
      const st = await ready(await loginAs('admin'), other.baseUrl);
      // Every instance's listener is cut (this one's and the suite's own); each reconnects.
      const { rows } = await stack().knex.raw(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and datname = current_database()`, [LISTENER_NAME]);
      expect(rows.length).to.be.at.least(1);
      await st.waitFor((m) => m.event === 'resync', 10_000);
      await writeBookingEvent(booking.id, 'after_reconnect');
      await st.waitForEvent((e) => e.bookingId === booking.id && e.type === 'after_reconnect');
    } finally {
      await other.close();
    }
  });

  it('a stopping instance ends its streams with "end" (server_closing), so clients reconnect to another', async () => {
    const other = await startInstance();
    const st = await ready(await loginAs('marketer'), other.baseUrl);
    await other.close();
    const end = await st.waitFor((m) => m.event === 'end', 3_000);
    expect(end.data).to.deep.equal({ reason: 'server_closing' });
    await eventually(async () => st.ended, 3_000, 20);
  });

  it('heartbeats keep it open past the request timeout; a session that ends ends the stream', async () => {
    const { knex } = stack();
    const temporal = lazyTemporal(stack().temporalAddress);
    const timeoutBefore = hardening.requestTimeoutMs;
    (hardening as { requestTimeoutMs: number }).requestTimeoutMs = 300;
    const app = createApp({ knex, temporalConnection: temporal.connection, temporalClient: temporal.client, logger, liveEvents: createLiveEvents({ knex, heartbeatMs: 200 }) });
    (hardening as { requestTimeoutMs: number }).requestTimeoutMs = timeoutBefore;
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const user = await createUser('marketer');
      const st = await ready(await tokenOf(user), baseUrl);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(st.ended).to.equal(false);
      expect(st.messages.filter((m) => m.event === 'comment').length).to.be.at.least(3);

      await knex('users').where({ id: user.id }).update({ active: false });
      const end = await st.waitFor((m) => m.event === 'end', 3_000);
      expect(end.data).to.deep.equal({ reason: 'session_changed' });
      await eventually(async () => st.ended, 3_000, 20);
    } finally {
      await app.context.liveEvents.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.context.sessions.close();
      await app.context.security.close();
      await temporal.close();
    }
  });

  it('is in the OpenAPI document as a text/event-stream whose events have a schema', async () => {
    const doc = (await api('GET', '/api/v1/openapi.json')).body;
    const op = doc.paths['/api/v1/events'].get;
    expect(op.operationId).to.equal('streamEvents');
    expect(op.responses['200'].content['text/event-stream'].schema.properties.kind.enum).to.include.members(['booking', 'approval', 'campaign', 'conversation', 'contact_import']);
  });
});

/** An agent run for an agent's approval to name (approvals of kind agent_action need one). */
async function agentRun(): Promise<string> {
  const id = `test-run-${crypto.randomBytes(4).toString('hex')}`;
  await stack().knex('agent_runs').insert({ id, agent: 'test', occasion: 'live events test', trigger: 'request', status: 'waiting_approval' });
  return id;
}
