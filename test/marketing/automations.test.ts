import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually, hold, scenario } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';

const sendsTo = (email: string) => stack().sendgrid.accepted.filter((p) => p.email === email).length;

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
    await new Promise((r) => setTimeout(r, 2500));
    expect(sendsTo(contacts[0].email)).to.equal(0);
    await api('POST', `/api/v1/automations/${a.body.id}/resume`, { token });
    await eventually(async () => sendsTo(contacts[0].email) === 1, 20_000, 100);
  });

  it('enrolls an abandoned booking (an expired hold) and respects missing consent', async () => {
    const templateId = await marketingTemplate('Your tour is waiting');
    const token = await loginAs('marketer');
    const a = await api('POST', '/api/v1/automations', { token, body: { name: 'Abandoned booking', trigger: 'hold_expired', steps: [{ send: { templateId } }] } });
    const s = await scenario({ daysAhead: 20, rules: { holdMinutes: 0.02 } });
    const booking = await hold(await loginAs('customer'), s.departureId, 1);
    const enrollment = await eventually(async () => stack().knex('automation_enrollments').where({ automation_id: a.body.id, occasion: booking.id }).first(), 30_000, 200);
    const done = await eventually(async () => {
      const row = await stack().knex('automation_enrollments').where({ workflow_id: enrollment.workflow_id }).first();
      return row.status === 'completed' ? row : undefined;
    }, 20_000, 200);
    expect(done.status).to.equal('completed');
    const send = await stack().knex('automation_sends').where({ workflow_id: enrollment.workflow_id }).first();
    const contact = await stack().knex('contacts').where({ id: enrollment.contact_id }).first();
    const consent = await stack().knex('contact_consents').where({ contact_id: contact.id, channel: 'email', status: 'granted' }).first();
    // No email consent recorded for this contact: the step is suppressed, nothing is mailed.
    expect(send.status).to.equal(consent ? 'sent' : 'suppressed');
    if (!consent) expect(stack().sendgrid.acceptedSendIds.has(send.send_id)).to.equal(false);
    await stack().knex('automations').where({ id: a.body.id }).update({ status: 'archived' });
  });
});
