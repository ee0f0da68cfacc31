/**
 * The console's data operations against the real stack: the Today board, the calendar and
 * closing a departure, the manifest (JSON, CSV) and check-ins (stored, on the timeline, notified),
 * the desk's booking search, the cancellation quote against the cancel that follows, the
 * marketers' lists and template edits, and the conversations' branch scope, queue order and
 * forced take-over. Answers are checked against the routes' own response schemas.
 */
import { expect } from 'chai';
import pg from 'pg';
import { z } from 'zod';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, holdBody, scenario, type Scenario } from '../support/bookings';
import { marketingTemplate, MARKETING_MJML } from '../support/campaigns';
import { automationListItem, calendarSchema, campaignListItem, manifestSchema, quoteSchema, segmentListItem, templateDetail, todaySchema } from '../../api/routes/console';
import { listOf } from '../../api/schemas';

const userId = async (email: string) => (await stack().knex('users').where({ email }).first('id')).id as string;

/** A scenario whose tour belongs to the demo operator's branch (MAD), so the operator may steer it. */
async function madScenario(options: Parameters<typeof scenario>[0]): Promise<Scenario> {
  const { knex } = stack();
  const s = await scenario(options);
  const mad = await knex('branches').where({ code: 'MAD' }).first('id');
  await knex('tours').where({ id: s.tourId }).update({ branch_id: mad.id });
  return { ...s, branchId: mad.id };
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) expect.fail(`answer does not match its schema: ${JSON.stringify(result.error.issues.slice(0, 3))}`);
  return result.data!;
}

describe('console data operations', function () {
  this.timeout(90_000);
  let operator: string;
  let accountant: string;
  let admin: string;
  let customer: string;
  let s: Scenario;
  let paid: { id: string; reference: string };
  let desk: { id: string; reference: string; passengers: Array<{ id: string }> };

  before(async () => {
    [operator, accountant, admin, customer] = await Promise.all([loginAs('operator'), loginAs('accountant'), loginAs('admin'), loginAs('customer')]);
    s = await madScenario({ daysAhead: 20.5, adultMinor: 10000, capacity: 60 });
    paid = await hold(customer, s.departureId, 2);
    const pay = await api('POST', `/api/v1/bookings/${paid.id}/payments`, { token: customer, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
    expect(pay.status, JSON.stringify(pay.body)).to.equal(201);
    desk = await hold(operator, s.departureId, 1, {
      passengers: [{ type: 'adult', firstName: '=HYPERLINK("http://evil")', lastName: 'Núñez' }, { type: 'child', firstName: 'Lucía', lastName: 'Núñez' }],
      contact: { name: 'José Núñez', email: 'jose.nunez@example.com', phone: '+34600999888' },
    });
  });

  describe('manifest and check-ins', () => {
    it('lists each travelling booking with contact, passengers by type and the balance due from the ledger', async () => {
      const res = await api('GET', `/api/v1/departures/${s.departureId}/manifest`, { token: operator });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const m = parse(manifestSchema, res.body);
      expect(m.departure).to.include({ id: s.departureId, capacity: 60, held: 2, sold: 2 });
      expect(m.totals.byPaxType).to.deep.include({ adult: 3, child: 1 });
      expect(m.totals).to.include({ passengers: 4, bookings: 2 });
      const byRef = new Map(m.bookings.map((b) => [b.reference, b]));
      expect(byRef.get(paid.reference)!.amountDue).to.equal(0);
      expect(byRef.get(desk.reference)!.amountDue).to.equal(15000);
      expect(byRef.get(desk.reference)!.contact).to.deep.equal({ name: 'José Núñez', email: 'jose.nunez@example.com', phone: '+34600999888' });
      expect(m.bookings.flatMap((b) => b.passengers).every((p) => p.checkIn.state === 'pending')).to.equal(true);
      // accountants read it; another branch's departure is not there for an operator
      expect((await api('GET', `/api/v1/departures/${s.departureId}/manifest`, { token: accountant })).status).to.equal(200);
      const other = await scenario({ daysAhead: 10 });
      expect((await api('GET', `/api/v1/departures/${other.departureId}/manifest`, { token: operator })).status).to.equal(404);
      expect((await api('GET', `/api/v1/departures/${other.departureId}/manifest`, { token: admin })).status).to.equal(200);
      expect((await api('GET', `/api/v1/departures/${s.departureId}/manifest`, { token: customer })).status).to.equal(403);
    });

    it('exports CSV: a header row, one row per passenger, formulas neutralised', async () => {
      const res = await api('GET', `/api/v1/departures/${s.departureId}/manifest.csv`, { token: operator });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/csv/);
      const lines = String(res.body).trim().split('\r\n');
      expect(lines[0]).to.equal('reference,booking_status,last_name,first_name,pax_type,birth_date,check_in,contact_name,contact_email,contact_phone,amount_due,currency');
      expect(lines).to.have.length(5);
      const evil = lines.find((l) => l.includes('HYPERLINK'))!;
      expect(evil).to.include('"\'=HYPERLINK(""http://evil"")"');
      expect(evil).to.include("'+34600999888");
      expect(lines.filter((l) => /(^|,)[=+\-@]/.test(l))).to.deep.equal([]);
    });

    it('stores a check-in once, on the timeline, notifies console_events; accountants may not check in', async () => {
      const listener = new pg.Client({ connectionString: stack().databaseUrl });
      await listener.connect();
      const heard: Array<Record<string, unknown>> = [];
      listener.on('notification', (n) => heard.push(JSON.parse(n.payload ?? '{}')));
      await listener.query('listen console_events');
      try {
        const passengerId = desk.passengers[0].id;
        const body = { bookingId: desk.id, passengerId, state: 'checked_in' };
        expect((await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: accountant, body })).status).to.equal(403);
        const first = await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: operator, body });
        expect(first.status, JSON.stringify(first.body)).to.equal(200);
        expect(first.body).to.include({ state: 'checked_in', changed: true });
        const again = await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: operator, body });
        expect(again.body).to.include({ state: 'checked_in', changed: false });
        const events = await stack().knex('booking_events').where({ booking_id: desk.id }).whereIn('type', ['checked_in', 'no_show', 'check_in_cleared']);
        expect(events).to.have.length(1);
        expect(events[0].actor).to.equal(`user:${await userId('operator@demo.test')}`);
        await eventually(async () => heard.some((h) => h.kind === 'checkin' && h.bookingId === desk.id && h.departureId === s.departureId));

        const m = parse(manifestSchema, (await api('GET', `/api/v1/departures/${s.departureId}/manifest`, { token: operator })).body);
        const p = m.bookings.flatMap((b) => b.passengers).find((x) => x.id === passengerId)!;
        expect(p.checkIn.state).to.equal('checked_in');
        expect(m.totals.checkIns).to.deep.equal({ pending: 3, checked_in: 1, no_show: 0 });

        const cleared = await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: operator, body: { ...body, state: 'pending' } });
        expect(cleared.body).to.include({ state: 'pending', changed: true });
        const noShow = await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: admin, body: { ...body, passengerId: desk.passengers[1].id, state: 'no_show' } });
        expect(noShow.status).to.equal(200);
        const types = await stack().knex('booking_events').where({ booking_id: desk.id }).whereIn('type', ['checked_in', 'no_show', 'check_in_cleared']).orderBy('id').pluck('type');
        expect(types).to.deep.equal(['checked_in', 'check_in_cleared', 'no_show']);
        // a passenger of another booking, or a booking of another departure
        expect((await api('POST', `/api/v1/departures/${s.departureId}/check-ins`, { token: operator, body: { ...body, passengerId: paid.id } })).status).to.equal(404);
      } finally {
        await listener.end();
      }
    });
  });

  describe('calendar and closing a departure', () => {
    it('serves departures per branch day with capacity, held, sold and status', async () => {
      const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Madrid' }).format(s.departureAt);
      const res = await api('GET', `/api/v1/console/calendar?from=${day}&to=${day}&tourId=${s.tourId}`, { token: operator });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const cal = parse(calendarSchema, res.body);
      expect(cal.days).to.have.length(1);
      expect(cal.days[0].date).to.equal(day);
      expect(cal.days[0].departures[0]).to.include({ id: s.departureId, capacity: 60, held: 2, sold: 2, status: 'scheduled' });
      expect((await api('GET', `/api/v1/console/calendar?from=${day}&to=${day}&branch=NYC`, { token: operator })).status).to.equal(403);
      expect((await api('GET', `/api/v1/console/calendar?from=${day}&to=2020-01-01`, { token: operator })).status).to.equal(400);
      const nyc = await api('GET', `/api/v1/console/calendar?from=${day}&to=${day}&branch=NYC`, { token: admin });
      expect(nyc.status).to.equal(200);
      expect(nyc.body.days.flatMap((d: { departures: Array<{ branch: string }> }) => d.departures).every((d: { branch: string }) => d.branch === 'NYC')).to.equal(true);
    });

    it('closes a departure (no new holds, a clear 409) and opens it again; accountants may not', async () => {
      expect((await api('PATCH', `/api/v1/departures/${s.departureId}`, { token: accountant, body: { status: 'closed' } })).status).to.equal(403);
      const closed = await api('PATCH', `/api/v1/departures/${s.departureId}`, { token: operator, body: { status: 'closed' } });
      expect(closed.status, JSON.stringify(closed.body)).to.equal(200);
      expect(closed.body.status).to.equal('closed');
      const refused = await api('POST', '/api/v1/bookings', { token: customer, body: holdBody(s.departureId, 1) });
      expect(refused.status).to.equal(409);
      expect(refused.body.code).to.equal('departure_closed');
      expect(refused.body.detail).to.equal('This departure is closed; it takes no bookings.');
      expect((await api('GET', `/api/v1/departures/${s.departureId}`)).body.status).to.equal('closed');
      const opened = await api('PATCH', `/api/v1/departures/${s.departureId}`, { token: operator, body: { status: 'open' } });
      expect(opened.body.status).to.equal('scheduled');
      const other = await scenario({ daysAhead: 10 });
      expect((await api('PATCH', `/api/v1/departures/${other.departureId}`, { token: operator, body: { status: 'closed' } })).status).to.equal(404);
    });
  });

  describe('today', () => {
    it('shows today\'s departures with their load, holds about to expire, balances due, approvals and revenue', async () => {
      const { knex } = stack();
      const [soon] = await knex('departures').insert({ tour_id: s.tourId, starts_at: new Date(Date.now() + 2 * 3_600_000), timezone: 'Europe/Madrid', capacity: 10 }).returning('id');
      const deposit = await madScenario({ daysAhead: 60.5, adultMinor: 10000 });
      const booking = await hold(customer, deposit.departureId, 1);
      const pay = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token: customer, body: { provider: 'sandbox', paymentMethod: 'pm_card_visa' } });
      expect(pay.status, JSON.stringify(pay.body)).to.equal(201);
      await eventually(async () => (await knex('bookings').where({ id: booking.id }).first('status')).status === 'confirmed');

      const res = await api('GET', '/api/v1/console/today', { token: operator });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const today = parse(todaySchema, res.body);
      const dep = today.departures.find((d) => d.id === soon.id);
      expect(dep, 'the departure in 2 hours').to.not.equal(undefined);
      expect(dep!.loadPercent).to.equal(0);
      expect(today.departures.every((d) => d.branch === 'MAD')).to.equal(true);
      expect(today.expiringHolds.map((h) => h.reference)).to.include(desk.reference);
      const due = today.balancesDue.find((b) => b.bookingId === booking.id);
      expect(due, 'the deposit booking').to.deep.include({ amountDue: 7000, currency: 'EUR', dueOn: new Date(+deposit.departureAt - 30 * 86_400_000).toISOString().slice(0, 10) });
      const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Madrid' }).format(new Date());
      const revenue = today.revenue.find((r) => r.branch === 'MAD' && r.day === day && r.currency === 'EUR');
      expect(revenue!.captured).to.be.at.least(23000);
      expect(revenue!.net).to.equal(revenue!.captured - revenue!.refunded);
      expect(today.approvals.pending).to.be.a('number');

      expect((await api('GET', '/api/v1/console/today?branch=NYC', { token: operator })).status).to.equal(403);
      const all = parse(todaySchema, (await api('GET', '/api/v1/console/today', { token: admin })).body);
      expect(new Set(all.revenue.map((r) => r.branch)).has('MAD')).to.equal(true);
      expect((await api('GET', '/api/v1/console/today', { token: accountant })).status).to.equal(200);
      expect((await api('GET', '/api/v1/console/today', { token: customer })).status).to.equal(403);
    });
  });

  describe('booking desk search', () => {
    it('finds by reference prefix, by name without accents and by email, scoped, with what the list shows', async () => {
      const byName = await api('GET', '/api/v1/bookings?q=jose%20nunez', { token: operator });
      expect(byName.status, JSON.stringify(byName.body)).to.equal(200);
      expect(byName.body.data.map((b: { id: string }) => b.id)).to.include(desk.id);
      const row = byName.body.data.find((b: { id: string }) => b.id === desk.id);
      expect(row).to.deep.include({ reference: desk.reference, status: 'held', branch: 'MAD', amountDue: 15000, tourTitle: (await stack().knex('tour_translations').where({ tour_id: s.tourId, language: 'en' }).first('title')).title });
      expect(row.contact).to.deep.include({ name: 'José Núñez', email: 'jose.nunez@example.com' });
      expect(row.departureStartsAt).to.be.a('string');
      const byRef = await api('GET', `/api/v1/bookings?q=${desk.reference.slice(0, 7).toLowerCase()}`, { token: operator });
      expect(byRef.body.data.map((b: { id: string }) => b.id)).to.include(desk.id);
      const byEmail = await api('GET', '/api/v1/bookings?q=NUNEZ@EXAMPLE', { token: admin });
      expect(byEmail.body.data.map((b: { id: string }) => b.id)).to.include(desk.id);
      const wildcard = await api('GET', '/api/v1/bookings?q=%25', { token: admin });
      expect(wildcard.body.data).to.deep.equal([]);
      // the customer is not the contact of the desk booking and does not see it
      const theirs = await api('GET', '/api/v1/bookings?q=nunez', { token: customer });
      expect(theirs.body.data.map((b: { id: string }) => b.id)).to.not.include(desk.id);
    });
  });

  describe('cancellation quote', () => {
    it('quotes exactly what the following cancel refunds', async () => {
      const res = await api('GET', `/api/v1/bookings/${paid.id}/cancellation-quote`, { token: customer });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const quote = parse(quoteSchema, res.body);
      expect(quote).to.deep.include({ cancellable: true, paid: 20000, needsApproval: false, daysBeforeDeparture: 20 });
      expect(quote.tier).to.deep.equal({ minDays: 14, percent: 90 });
      expect(quote.refund).to.deep.equal({ amount: 18000, currency: 'EUR', percent: 90 });
      const cancelled = await api('POST', `/api/v1/bookings/${paid.id}/cancel`, { token: customer, body: { reason: 'quote check' } });
      expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
      expect(cancelled.body.refund).to.deep.equal(quote.refund);
      const after = parse(quoteSchema, (await api('GET', `/api/v1/bookings/${paid.id}/cancellation-quote`, { token: customer })).body);
      expect(after).to.deep.include({ cancellable: false, notCancellableBecause: 'The booking is cancelled.', paid: 2000 });
      expect((await api('GET', `/api/v1/bookings/${paid.id}/cancellation-quote`, { token: await loginAs('partner') })).status).to.equal(404);
    });
  });

  describe('marketing lists and template edits', () => {
    it('lists campaigns, segments and automations for marketers only', async () => {
      const marketer = await loginAs('marketer');
      const templateId = await marketingTemplate('Console list');
      const [segment] = await stack().knex('segments').insert({ name: 'console-list', rules: JSON.stringify({ field: 'country', op: 'eq', value: 'ES' }) }).returning('id');
      const created = await api('POST', '/api/v1/campaigns', { token: marketer, body: { name: 'Console list', segmentId: segment.id, variants: [{ name: 'a', templateId }] } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const campaigns = parse(listOf(campaignListItem), (await api('GET', '/api/v1/campaigns?status=draft', { token: marketer })).body);
      expect(campaigns.data.find((c) => c.id === created.body.id)).to.deep.include({ name: 'Console list', status: 'draft', abTest: false });
      const segments = parse(listOf(segmentListItem), (await api('GET', '/api/v1/segments?limit=100', { token: marketer })).body);
      expect(segments.data.map((x) => x.id)).to.include(segment.id);
      const automation = await api('POST', '/api/v1/automations', { token: marketer, body: { name: 'Console list', trigger: 'manual', steps: [{ send: { templateId } }] } });
      expect(automation.status, JSON.stringify(automation.body)).to.equal(201);
      const automations = parse(listOf(automationListItem), (await api('GET', '/api/v1/automations', { token: marketer })).body);
      expect(automations.data.find((a) => a.id === automation.body.id)).to.deep.include({ status: 'active', enrollments: { running: 0, completed: 0, exited: 0 } });
      // pages follow one another without repeats
      await stack().knex('segments').insert({ name: 'console-list-2', rules: JSON.stringify({ field: 'country', op: 'eq', value: 'MX' }) });
      const first = await api('GET', '/api/v1/segments?limit=1', { token: marketer });
      expect(first.body.hasMore).to.equal(true);
      const second = await api('GET', `/api/v1/segments?limit=1&cursor=${first.body.nextCursor}`, { token: marketer });
      expect(second.body.data[0].id).to.not.equal(first.body.data[0].id);
      for (const path of ['/api/v1/campaigns', '/api/v1/segments', '/api/v1/automations']) {
        expect((await api('GET', path, { token: operator })).status, path).to.equal(403);
      }
    });

    it('edits a template, checked as on create', async () => {
      const marketer = await loginAs('marketer');
      const id = await marketingTemplate('Before');
      const res = await api('PUT', `/api/v1/templates/${id}`, { token: marketer, body: { subject: 'After {{first_name}}', mjml: MARKETING_MJML, text: 'Hola. Baja: {{unsubscribe_url}}' } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const t = parse(templateDetail, res.body);
      expect(t).to.include({ subject: 'After {{first_name}}', language: 'es', kind: 'marketing' });
      expect(t.variables).to.include('first_name');
      expect((await api('GET', `/api/v1/templates/${id}`, { token: marketer })).body.subject).to.equal('After {{first_name}}');
      const bad = await api('PUT', `/api/v1/templates/${id}`, { token: marketer, body: { subject: 'x', mjml: MARKETING_MJML, text: 'no unsubscribe link' } });
      expect(bad.status).to.equal(400);
      expect(bad.body.code).to.equal('unsubscribe_link_missing');
      expect((await api('PUT', `/api/v1/templates/${id}`, { token: operator, body: { subject: 'x', mjml: MARKETING_MJML, text: 'x {{unsubscribe_url}}' } })).status).to.equal(403);
    });
  });

  describe('conversations for the console', () => {
    it('scopes operators to their branch, serves the human queue oldest first, and lets an admin take a conversation by force (audited)', async () => {
      const { knex } = stack();
      const nyc = await knex('branches').where({ code: 'NYC' }).first('id');
      const mad = await knex('branches').where({ code: 'MAD' }).first('id');
      const tag = Date.now().toString(36);
      const [nycCustomer] = await knex('customers').insert({ first_name: 'Ny', last_name: 'C', email: `nyc-${tag}@example.com`, language: 'en', branch_id: nyc.id }).returning('id');
      const [madCustomer] = await knex('customers').insert({ first_name: 'Ma', last_name: 'D', email: `mad-${tag}@example.com`, language: 'es', branch_id: mad.id }).returning('id');
      const operatorId = await userId('operator@demo.test');
      const [older, newer, unrouted, held] = await knex('conversations').insert([
        { channel: 'web', customer_handle: `nyc-${tag}`, customer_id: nycCustomer.id, status: 'waiting_human', waiting_since: new Date('2001-01-01T00:00:00Z'), last_message_at: new Date('2001-01-01T00:00:00Z') },
        { channel: 'web', customer_handle: `mad-${tag}`, customer_id: madCustomer.id, status: 'waiting_human', waiting_since: new Date('2001-01-02T00:00:00Z'), last_message_at: new Date('2001-01-02T00:00:00Z') },
        { channel: 'web', customer_handle: `anon-${tag}`, status: 'waiting_human', waiting_since: new Date('2001-01-03T00:00:00Z'), last_message_at: new Date('2001-01-03T00:00:00Z') },
        { channel: 'web', customer_handle: `held-${tag}`, customer_id: madCustomer.id, status: 'with_human', assigned_user_id: operatorId, last_message_at: new Date('2001-01-04T00:00:00Z') },
      ]).returning('id');

      const adminQueue = await api('GET', '/api/v1/conversations?queue=human&limit=3', { token: admin });
      expect(adminQueue.body.data.map((c: { id: string }) => c.id)).to.deep.equal([older.id, newer.id, unrouted.id]);
      const next = await api('GET', `/api/v1/conversations?queue=human&limit=1&cursor=${adminQueue.body.nextCursor}`, { token: admin });
      expect(next.body.data[0].id).to.equal(held.id);

      const operatorQueue = await api('GET', '/api/v1/conversations?queue=human&limit=3', { token: operator });
      expect(operatorQueue.body.data.map((c: { id: string }) => c.id)).to.deep.equal([newer.id, unrouted.id, held.id]);
      expect((await api('GET', `/api/v1/conversations/${older.id}`, { token: operator })).status).to.equal(404);
      expect((await api('POST', `/api/v1/conversations/${older.id}/takeover`, { token: operator })).status).to.equal(404);
      expect((await api('GET', `/api/v1/conversations/${older.id}`, { token: admin })).status).to.equal(200);

      const refused = await api('POST', `/api/v1/conversations/${held.id}/takeover`, { token: admin });
      expect(refused.status).to.equal(409);
      expect((await api('POST', `/api/v1/conversations/${held.id}/takeover`, { token: operator, body: { force: true } })).status).to.equal(403);
      const forced = await api('POST', `/api/v1/conversations/${held.id}/takeover`, { token: admin, body: { force: true } });
      expect(forced.status, JSON.stringify(forced.body)).to.equal(200);
      expect(forced.body).to.include({ status: 'with_human', assignedUserId: await userId('admin@demo.test') });
      const audit = await knex('audit_log').where({ entity_type: 'conversation', entity_id: held.id, action: 'conversation.takeover_forced' }).first();
      expect(audit.data).to.deep.equal({ takenFrom: operatorId });
      // the operator no longer holds it, and its customer is of their branch: still visible
      expect((await api('GET', `/api/v1/conversations/${held.id}`, { token: operator })).status).to.equal(200);
      await knex('conversations').whereIn('id', [older.id, newer.id, unrouted.id, held.id]).update({ status: 'closed' });
    });
  });
});
