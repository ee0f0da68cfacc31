import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, scenario } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';
import { taskQueue, taskQueues } from '../../temporal.config';

const sendsTo = (email: string) => stack().sendgrid.accepted.filter((p) => p.email === email).length;
/** Automation mail only: booking emails (confirmation, hold expired...) go to the same address with `bk-` send ids. */
const automationSendsTo = (email: string) => stack().sendgrid.accepted.filter((p) => p.email === email && !p.sendId?.startsWith('bk-')).length;

describe('automations', function () {
  this.timeout(90_000);

  it('walks each contact through waits, sends and checks, and lets the goal end it early', async () => {
    const { contacts, tag } = await audience(3);
    const [es, en, goal] = contacts;
    await stack().knex('contacts').where({ id: es.id }).update({ language: 'es' });
    await stack().knex('contacts').where({ id: en.id }).update({ language: 'en' });
    await stack().knex('contacts').where({ id: goal.id }).update({ language: 'es' });
    const first = await marketingTemplate('Welcome');
    const second = await marketingTemplate('Still thinking?');
    const token = await loginAs('marketer');
    const created = await api('POST', '/api/v1/automations', {
      token, body: {
        name: `Welcome ${tag}`, trigger: 'manual',
        steps: [{ send: { templateId: first } }, { wait: { hours: 0.0008 } }, { check: { rules: { field: 'language', op: 'eq', value: 'es' } } }, { send: { templateId: second } }],
        goal: { field: 'tag', op: 'has', value: `${tag}-booked` },
      },
    });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const enrolled = await api('POST', `/api/v1/automations/${created.body.id}/enrollments`, { token, body: { contactIds: contacts.map((c) => c.id) } });
    expect(enrolled.body).to.include({ enrolled: 3, alreadyEnrolled: 0 });
    const again = await api('POST', `/api/v1/automations/${created.body.id}/enrollments`, { token, body: { contactIds: [es.id] } });
    expect(again.body).to.include({ enrolled: 0, alreadyEnrolled: 1 });
    // The third contact books during the wait: the goal is met.
    await eventually(async () => sendsTo(goal.email) === 1, 20_000, 50);
    await stack().knex('contacts').where({ id: goal.id }).update({ tags: [tag, `${tag}-booked`] });

    const done = await eventually(async () => {
      const rows = await stack().knex('automation_enrollments').where({ automation_id: created.body.id }).select('contact_id', 'status', 'exit_reason');
      return rows.every((r) => r.status !== 'running') ? rows : undefined;
    }, 30_000, 200);
    const by = Object.fromEntries(done.map((r) => [r.contact_id, r]));
    expect(by[es.id]).to.include({ status: 'completed' });
    expect(by[en.id]).to.include({ status: 'exited', exit_reason: 'condition not met' });
    expect(by[goal.id]).to.include({ status: 'exited', exit_reason: 'goal met' });
    expect([sendsTo(es.email), sendsTo(en.email), sendsTo(goal.email)]).to.deep.equal([2, 1, 1]);
    const view = await api('GET', `/api/v1/automations/${created.body.id}`, { token });
    expect(view.body.enrollments.reduce((n: number, e: any) => n + e.contacts, 0)).to.equal(3);
  });

  it('holds enrolled contacts while paused and carries on when resumed', async () => {
    const { contacts } = await audience(1);
    const templateId = await marketingTemplate('After the pause');
    const token = await loginAs('marketer');
    const a = await api('POST', '/api/v1/automations', { token, body: { name: 'Pausable', trigger: 'manual', steps: [{ wait: { hours: 0.0003 } }, { send: { templateId } }] } });
    const paused = await api('POST', `/api/v1/automations/${a.body.id}/pause`, { token });
    expect(paused.body.status).to.equal('paused');
    expect((await api('POST', `/api/v1/automations/${a.body.id}/pause`, { token })).status).to.equal(409);
    await api('POST', `/api/v1/automations/${a.body.id}/enrollments`, { token, body: { contactIds: [contacts[0].id] } });
    const enrollment = await eventually(async () => stack().knex('automation_enrollments').where({ automation_id: a.body.id, contact_id: contacts[0].id }).first(), 20_000, 100);
    // Parked by the pause: the enrollment's workflow waits on its hour-long "look again" timer
    // instead of the step's 1-second wait (which is what it would have started if it ignored the pause).
    const timers = async () => {
      const { events } = await stack().temporal.workflow.getHandle(enrollment.workflow_id).fetchHistory();
      return (events ?? []).filter((e) => e.timerStartedEventAttributes).map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
    };
    await eventually(async () => (await timers()).includes(3600), 20_000, 100);
    expect(await timers()).to.deep.equal([3600]);
    expect(sendsTo(contacts[0].email)).to.equal(0);
    expect(await stack().knex('automation_sends').where({ workflow_id: enrollment.workflow_id })).to.have.length(0);
    await api('POST', `/api/v1/automations/${a.body.id}/resume`, { token });
    await eventually(async () => sendsTo(contacts[0].email) === 1, 20_000, 100);
    expect(await timers()).to.deep.equal([3600, 1]);
  });

  it('enrolls an abandoned booking (an expired hold): mails a contact with consent, suppresses one without', async () => {
    const { knex } = stack();
    const templateId = await marketingTemplate('Your tour is waiting');
    const token = await loginAs('marketer');
    const a = await api('POST', '/api/v1/automations', { token, body: { name: 'Abandoned booking', trigger: 'hold_expired', steps: [{ send: { templateId } }] } });
    try {
      const s = await scenario({ daysAhead: 20, rules: { holdMinutes: 0.02 } });
      const tag = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
      // Booked by staff for a guest, so the booking's contact is found by its email (not a customer account).
      const consenting = `abandon.yes.${tag}@example.com`;
      const silent = `abandon.no.${tag}@example.com`;
      const [known] = await knex('contacts').insert({ email: consenting, first_name: 'Yes', source: 'api' }).returning('id');
      await knex('contact_consents').insert({ contact_id: known.id, channel: 'email', status: 'granted', source: 'test' });
      expect(await knex('contacts').whereRaw('lower(email) = ?', [silent])).to.have.length(0);
      const operator = await loginAs('operator');
      const withConsent = await hold(operator, s.departureId, 1, { contact: { name: 'Yes Guest', email: consenting } });
      const without = await hold(operator, s.departureId, 1, { contact: { name: 'No Guest', email: silent } });

      const finished = async (bookingId: string) => {
        const enrollment = await eventually(async () => knex('automation_enrollments').where({ automation_id: a.body.id, occasion: bookingId }).first(), 30_000, 200);
        await eventually(async () => (await knex('automation_enrollments').where({ workflow_id: enrollment.workflow_id }).first()).status === 'completed', 20_000, 200);
        const sends = await knex('automation_sends').where({ workflow_id: enrollment.workflow_id });
        expect(sends).to.have.length(1);
        return { enrollment, send: sends[0] };
      };
      const yes = await finished(withConsent.id);
      expect(yes.enrollment.contact_id).to.equal(known.id);
      expect(yes.send.status).to.equal('sent');
      await eventually(async () => stack().sendgrid.acceptedSendIds.get(yes.send.send_id) === 1, 10_000, 100);
      expect(automationSendsTo(consenting)).to.equal(1);

      // No contact yet: one is created from the booking, without consent; the step is suppressed, nothing is mailed.
      const no = await finished(without.id);
      const created = await knex('contacts').where({ id: no.enrollment.contact_id }).first();
      expect(created).to.include({ email: silent, source: 'customer' });
      expect(await knex('contact_consents').where({ contact_id: created.id, channel: 'email', status: 'granted' })).to.have.length(0);
      expect(no.send.status).to.equal('suppressed');
      expect(stack().sendgrid.acceptedSendIds.has(no.send.send_id)).to.equal(false);
      expect(automationSendsTo(silent)).to.equal(0);
    } finally {
      await knex('automations').where({ id: a.body.id }).update({ status: 'archived' });
    }
  });

  it('enrolls a confirmed booking and a completed trip', async () => {
    const templateId = await marketingTemplate('Thanks for travelling');
    const token = await loginAs('marketer');
    const confirmed = await api('POST', '/api/v1/automations', { token, body: { name: 'Booking confirmed', trigger: 'booking_confirmed', steps: [{ send: { templateId } }] } });
    const completed = await api('POST', '/api/v1/automations', { token, body: { name: 'Review please', trigger: 'trip_completed', steps: [{ send: { templateId } }] } });
    try {
      // Paid in full 3 days ahead; the branch's calendar runs ~1,000,000x faster, so the trip ends in seconds.
      const s = await scenario({ daysAhead: 3, durationMinutes: 60, rules: { timeScale: 1e-6, holdMinutes: 60 * 24 } });
      const customer = await loginAs('customer');
      const booking = await hold(customer, s.departureId, 1);
      const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token: customer, body: { paymentMethod: 'pm_card_visa' } });
      expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
      const first = await eventually(async () => stack().knex('automation_enrollments').where({ automation_id: confirmed.body.id, occasion: booking.id }).first(), 30_000, 200);
      const second = await eventually(async () => stack().knex('automation_enrollments').where({ automation_id: completed.body.id, occasion: booking.id }).first(), 30_000, 200);
      expect(second.contact_id).to.equal(first.contact_id);
    } finally {
      await stack().knex('automations').whereIn('id', [confirmed.body.id, completed.body.id]).update({ status: 'archived' });
    }
  });

  it('enrolls a confirmed booking once, whatever happens next: an amendment (a new run that passes the trigger again), then a cancellation', async () => {
    const { knex, temporal } = stack();
    const templateId = await marketingTemplate('Booked!');
    const token = await loginAs('marketer');
    const confirmed = await api('POST', '/api/v1/automations', { token, body: { name: 'Booking confirmed, once', trigger: 'booking_confirmed', steps: [{ send: { templateId } }] } });
    try {
      const s = await scenario({ daysAhead: 40, adultMinor: 10000 });
      const email = `once.${Date.now()}@example.com`;
      const [contact] = await knex('contacts').insert({ email, first_name: 'Once', source: 'api' }).returning('id');
      await knex('contact_consents').insert({ contact_id: contact.id, channel: 'email', status: 'granted', source: 'test' });
      const operator = await loginAs('operator');
      const booking = await hold(operator, s.departureId, 2, { contact: { name: 'Once Guest', email } });
      const paid = await api('POST', `/api/v1/bookings/${booking.id}/payments`, { token: operator, body: { paymentMethod: 'pm_card_visa' } });
      expect(paid.status, JSON.stringify(paid.body)).to.equal(201);
      const enrollment = await eventually(async () => knex('automation_enrollments').where({ automation_id: confirmed.body.id, occasion: booking.id }).first(), 30_000, 200);
      await eventually(async () => automationSendsTo(email) === 1, 20_000, 100);

      // Next: an amendment. The booking's workflow continues as a new run, which reaches the
      // "confirmed" trigger again (its history shows the activity), and enrolls no one twice.
      const handle = temporal.workflow.getHandle(`booking-${booking.id}`);
      const firstRun = (await handle.describe()).runId;
      const amended = await api('POST', `/api/v1/bookings/${booking.id}/amendments`, { token: operator, body: { passengers: [{ type: 'adult', firstName: 'Renamed', lastName: 'Guest' }, { type: 'adult', firstName: 'Other', lastName: 'Guest' }] } });
      expect(amended.status, JSON.stringify(amended.body)).to.equal(200);
      await eventually(async () => {
        const latest = temporal.workflow.getHandle(`booking-${booking.id}`);
        if ((await latest.describe()).runId === firstRun) return false;
        const { events } = await latest.fetchHistory();
        return (events ?? []).some((e) => e.activityTaskCompletedEventAttributes && (events ?? []).find((x) => Number(x.eventId) === Number(e.activityTaskCompletedEventAttributes!.scheduledEventId))?.activityTaskScheduledEventAttributes?.activityType?.name === 'enrollBookingContact');
      }, 30_000, 200);

      // And then a cancellation.
      const cancelled = await api('POST', `/api/v1/bookings/${booking.id}/cancel`, { token: operator, body: { reason: 'plans changed' } });
      expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
      await eventually(async () => (await knex('bookings').where({ id: booking.id }).first()).status === 'cancelled', 20_000, 100);

      const enrollments = await knex('automation_enrollments').where({ automation_id: confirmed.body.id, contact_id: contact.id });
      expect(enrollments.map((e) => e.workflow_id)).to.deep.equal([enrollment.workflow_id]);
      expect(await knex('automation_sends').where({ workflow_id: enrollment.workflow_id })).to.have.length(1);
      expect(automationSendsTo(email)).to.equal(1);
    } finally {
      await knex('automations').where({ id: confirmed.body.id }).update({ status: 'archived' });
    }
  });

  it('enrolls welcome, birthday and inactive contacts from housekeeping, once, and only those it may mail', async () => {
    const { knex, temporal } = stack();
    const templateId = await marketingTemplate('Hello');
    const token = await loginAs('marketer');
    const make = async (trigger: string) => (await api('POST', '/api/v1/automations', { token, body: { name: trigger, trigger, steps: [{ send: { templateId } }] } })).body.id as string;
    const welcome = await make('contact_created');
    const birthday = await make('birthday');
    const inactive = await make('inactive');
    const tag = `trg${Date.now()}`;
    const longAgo = new Date(Date.now() - 400 * 86_400_000);
    // The birthday contact lives where it is about noon now (hours from either midnight), and
    // was born on that place's today in 1992 (a leap year: every day of every month exists).
    const offset = 12 - new Date().getUTCHours(); // -11..12: a zone exists for each
    const zone = offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`; // POSIX signs: Etc/GMT-5 is UTC+5
    const localToday = new Date(Date.now() + offset * 3_600_000);
    const birthdayThere = `1992-${String(localToday.getUTCMonth() + 1).padStart(2, '0')}-${String(localToday.getUTCDate()).padStart(2, '0')}`;
    const rows = await knex('contacts').insert([
      { email: `new.${tag}@example.com`, source: 'api', tags: [tag] },
      { email: `imported.${tag}@example.com`, source: 'import', tags: [tag] },
      { email: `noconsent.${tag}@example.com`, source: 'api', tags: [tag] },
      { email: `bday.${tag}@example.com`, source: 'import', birthday: birthdayThere, timezone: zone, tags: [tag], created_at: longAgo },
      { email: `quiet.${tag}@example.com`, source: 'import', tags: [tag], created_at: longAgo },
      { email: `engaged.${tag}@example.com`, source: 'import', tags: [tag], created_at: longAgo },
    ]).returning(['id', 'email']);
    const id = (prefix: string) => rows.find((r) => r.email.startsWith(`${prefix}.`))!.id as string;
    await knex('contact_consents').insert(rows.filter((r) => !r.email.startsWith('noconsent.')).map((r) => ({ contact_id: r.id, channel: 'email', status: 'granted', source: 'test' })));
    await knex('email_events').insert({ provider: 'sendgrid', event_id: `ev-${tag}`, type: 'click', email: `engaged.${tag}@example.com`, occurred_at: new Date(Date.now() - 10 * 86_400_000) });
    const run = () => temporal.workflow.execute('housekeepingWorkflow', {
      taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-${tag}-${Math.random()}`, args: [{ withInactive: true }],
    });
    try {
      const result = await run();
      const enrolled = async (automationId: string) => (await knex('automation_enrollments').where({ automation_id: automationId }).whereIn('contact_id', rows.map((r) => r.id)).select('contact_id', 'occasion'));
      // Welcome: new contacts with consent; not imported lists, not those without consent.
      expect((await enrolled(welcome)).map((e) => e.contact_id)).to.deep.equal([id('new')]);
      expect(await enrolled(birthday)).to.deep.equal([{ contact_id: id('bday'), occasion: `birthday-${localToday.getUTCFullYear()}` }]);
      // Inactive: older than 180 days with no opens, clicks or bookings since (the engaged one clicked 10 days ago).
      expect((await enrolled(inactive)).map((e) => e.contact_id).sort()).to.deep.equal([id('bday'), id('quiet')].sort());
      expect(result.automationsEnrolled.contact_created).to.be.at.least(1);
      // The next run finds nothing new for them.
      await run();
      expect(await enrolled(welcome)).to.have.length(1);
      expect(await enrolled(inactive)).to.have.length(2);
      expect(await enrolled(birthday)).to.have.length(1);
      await eventually(async () => sendsTo(`new.${tag}@example.com`) === 1, 20_000, 100);
    } finally {
      await knex('automations').whereIn('id', [welcome, birthday, inactive]).update({ status: 'archived' });
    }
  });
});
