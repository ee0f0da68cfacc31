/**
 * Campaigns and automations through the one claim-send helper, on the real stack (workers,
 * Temporal, PostgreSQL) against the local SendGrid stand-in: render first (nothing claimed when
 * a template does not render), claims given back when nothing was handed over, `unknown` (never
 * resent) when the hand-over was ambiguous; an A/B test with a send window finishes; a finished
 * campaign's view says so; personalisation values raw in subject and text.
 */
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate, MARKETING_MJML } from '../support/campaigns';
import { createCampaignActivities } from '../../activities/campaign';
import { compiledHtml } from '../../models/templates';
import { createSmtpProvider } from '../../integrations/email/smtp';
import { startSmtpSink } from '../support/smtp-sink';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statuses(campaignId: string): Promise<Record<string, number>> {
  const rows = await stack().knex('campaign_recipients').where({ campaign_id: campaignId }).groupBy('status').select('status', stack().knex.raw('count(*)::int as n'));
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function createAndSchedule(token: string, body: Record<string, unknown>) {
  const created = await api('POST', '/api/v1/campaigns', { token, body });
  expect(created.status, JSON.stringify(created.body)).to.equal(201);
  const scheduled = await api('POST', `/api/v1/campaigns/${created.body.id}/schedule`, { token, body: {} });
  expect(scheduled.status, JSON.stringify(scheduled.body)).to.equal(200);
  return created.body.id as string;
}

async function finished(token: string, id: string, timeoutMs = 60_000) {
  return eventually(async () => {
    const c = await api('GET', `/api/v1/campaigns/${id}`, { token });
    return c.body.status === 'sent' ? c.body : undefined;
  }, timeoutMs, 250);
}

describe('claim and send (campaigns, automations)', function () {
  this.timeout(120_000);
  afterEach(async () => {
    await stack().sendgrid.up();
    stack().sendgrid.dropNext(0);
    stack().sendgrid.failNext(200, 0);
  });

  it('claims nothing while a variant does not render, and sends once it is fixed', async () => {
    const { knex } = stack();
    const { segmentId } = await audience(12);
    const [broken] = await knex('email_templates').insert({
      name: 'Broken', kind: 'marketing', language: 'es', subject: 'Broken', mjml: '<mjml><mj-body><mj-nope>x</mj-nope></mj-body></mjml>',
      text: 'Hola {{first_name}}. Baja: {{unsubscribe_url}}',
    }).returning('id');
    const token = await loginAs('marketer');
    const id = await createAndSchedule(token, { name: 'Broken', segmentId, variants: [{ name: 'A', templateId: broken.id }] });
    await eventually(async () => (await statuses(id)).pending === 12, 20_000, 100);
    await pause(3000); // several batch attempts fail to render meanwhile
    expect(await statuses(id)).to.deep.equal({ pending: 12 });
    await knex('email_templates').where({ id: broken.id }).update({ mjml: MARKETING_MJML, updated_at: knex.fn.now() });
    const done = await finished(token, id, 90_000);
    expect(done.progress).to.include({ sent: 12, unknown: 0, remaining: 0 });
    const ids = await knex('campaign_recipients').where({ campaign_id: id }).pluck('send_id');
    for (const sendId of ids) expect(stack().sendgrid.acceptedSendIds.get(sendId), sendId).to.equal(1);
  });

  it('marks unknown, and never resends, the recipients of a request reset after SendGrid read it', async () => {
    const { segmentId } = await audience(30);
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    stack().sendgrid.dropNext(1);
    const id = await createAndSchedule(token, { name: 'Dropped', segmentId, variants: [{ name: 'A', templateId }] });
    const done = await finished(token, id);
    expect(await statuses(id)).to.deep.equal({ unknown: 30 });
    expect(done.progress).to.include({ audience: 30, sent: 0, unknown: 30, remaining: 0 });
    const ids = await stack().knex('campaign_recipients').where({ campaign_id: id }).pluck('send_id');
    for (const sendId of ids) {
      expect(stack().sendgrid.droppedSendIds.get(sendId), sendId).to.equal(1);
      expect(stack().sendgrid.acceptedSendIds.has(sendId), sendId).to.equal(false);
    }
  });

  it('gives the claims back while SendGrid refuses connections, and sends each recipient once when it is back', async () => {
    const { segmentId } = await audience(20);
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    await stack().sendgrid.down();
    await pause(300); // the worker's kept-alive sockets are seen closed
    const id = await createAndSchedule(token, { name: 'Outage', segmentId, variants: [{ name: 'A', templateId }] });
    await eventually(async () => (await statuses(id)).pending === 20, 20_000, 100);
    await pause(2500); // batches try, are refused, give their claims back
    const during = await statuses(id);
    expect(during.unknown ?? 0).to.equal(0);
    expect(during.sent ?? 0).to.equal(0);
    expect((during.pending ?? 0) + (during.claimed ?? 0)).to.equal(20);
    await stack().sendgrid.up();
    const done = await finished(token, id);
    expect(done.progress).to.include({ sent: 20, unknown: 0 });
    const ids = await stack().knex('campaign_recipients').where({ campaign_id: id }).pluck('send_id');
    for (const sendId of ids) expect(stack().sendgrid.acceptedSendIds.get(sendId), sendId).to.equal(1);
  });

  it('finishes an A/B test with a send window, and its view says done, at the rate it ran, counted from the database', async () => {
    const { segmentId } = await audience(40);
    const a = await marketingTemplate('Window A');
    const b = await marketingTemplate('Window B');
    const token = await loginAs('marketer');
    const id = await createAndSchedule(token, {
      name: 'AB window', segmentId, variants: [{ name: 'A', templateId: a }, { name: 'B', templateId: b }],
      abTest: { metric: 'open', testPercent: 50, waitHours: 0.0005 }, sendWindow: { startHour: 0, endHour: 24 }, ratePerSecond: 200,
    });
    const done = await finished(token, id);
    expect(done.winnerVariant).to.be.oneOf(['A', 'B']);
    expect(done.progress).to.include({ audience: 40, sent: 40, failed: 0, suppressed: 0, unknown: 0, remaining: 0, phase: 'done' });
    expect(done.progress.ratePerSecond).to.be.within(1, 200);
    expect(await statuses(id)).to.deep.equal({ sent: 40 });
    const row = await stack().knex('campaigns').where({ id }).first('sent_rate_per_second');
    expect(row.sent_rate_per_second).to.equal(done.progress.ratePerSecond);
  });

  it("personalises subject and text with the raw name (O'Neil&Co) and escapes it only in the HTML (SendGrid)", async () => {
    const { knex } = stack();
    const { contacts, segmentId } = await audience(2);
    await knex('contacts').where({ id: contacts[0].id }).update({ first_name: "O'Neil&Co" });
    const [t] = await knex('email_templates').insert({
      name: 'Hello', kind: 'marketing', language: 'en', subject: 'Hello {{first_name}}', mjml: MARKETING_MJML, text: 'Hello {{first_name}}. Unsubscribe: {{unsubscribe_url}}',
    }).returning('id');
    const token = await loginAs('marketer');
    const id = await createAndSchedule(token, { name: 'Names', segmentId, variants: [{ name: 'A', templateId: t.id }] });
    await finished(token, id);
    const p = stack().sendgrid.accepted.find((x) => x.email === contacts[0].email)!;
    const got = stack().sendgrid.render(p);
    expect(got.subject).to.equal("Hello O'Neil&Co");
    const url = p.substitutions['{{unsubscribe_url}}'];
    expect(url).to.match(/\/u\//);
    expect(got.text).to.equal(`Hello O'Neil&Co. Unsubscribe: ${url}`);
    expect(got.html).to.contain('Hola O&#39;Neil&amp;Co, new tours are out.');
  });

  it("personalises subject and text with the raw name (O'Neil&Co) over SMTP, through the campaign's batch activity", async () => {
    const { knex } = stack();
    const sink = await startSmtpSink();
    const smtp = createSmtpProvider({ url: sink.url, maxConnections: 2 });
    try {
      const { contacts, segmentId } = await audience(3);
      await knex('contacts').where({ id: contacts[1].id }).update({ first_name: "O'Neil&Co" });
      const [t] = await knex('email_templates').insert({
        name: 'Hello smtp', kind: 'marketing', language: 'en', subject: 'Hello {{first_name}}', mjml: MARKETING_MJML, text: 'Hello {{first_name}}. Unsubscribe: {{unsubscribe_url}}',
      }).returning('id');
      const [c] = await knex('campaigns').insert({
        name: 'SMTP names', segment_id: segmentId, variants: JSON.stringify([{ name: 'A', templateId: t.id }]), provider: 'smtp', rate_per_second: 100, status: 'sending',
      }).returning('id');
      const activities = createCampaignActivities({
        knex, provider: () => smtp, publicUrl: 'http://spirit.test', linkSecret: 'test-secret-test-secret-test-secret', from: { email: 'news@spirit.test' },
        renderTemplate: async (templateId) => {
          const row = await knex('email_templates').where({ id: templateId }).first();
          return { subject: row.subject, html: await compiledHtml(row), text: row.text, kind: row.kind };
        },
      });
      await activities.resolveAudience({ campaignId: c.id });
      const batch = await activities.sendBatch({ campaignId: c.id, onlyTestVariants: false });
      expect(batch).to.include({ claimed: 3, sent: 3, failed: 0, unknown: 0, remaining: 0 });
      const sendId = (await knex('campaign_recipients').where({ campaign_id: c.id, contact_id: contacts[1].id }).first('send_id')).send_id;
      const received = sink.messages.find((m) => m.headers['x-spirit-send-id'] === sendId)!;
      expect(received.headers.subject).to.equal("Hello O'Neil&Co");
      const raw = received.raw!.replace(/=\r\n/g, '');
      expect(raw).to.contain("Hello O'Neil&Co. Unsubscribe: http://spirit.test/u/");
      expect(raw).to.contain('Hola O&#39;Neil&amp;Co, new tours are out.');
    } finally {
      await smtp.close();
      await sink.close();
    }
  });

  it('marks an automation step unknown, never resent, when SendGrid read it and reset the connection', async () => {
    const { contacts } = await audience(1);
    const templateId = await marketingTemplate('Welcome, dropped');
    const token = await loginAs('marketer');
    const a = await api('POST', '/api/v1/automations', { token, body: { name: 'Dropped welcome', trigger: 'manual', steps: [{ send: { templateId } }] } });
    expect(a.status, JSON.stringify(a.body)).to.equal(201);
    stack().sendgrid.dropNext(1);
    await api('POST', `/api/v1/automations/${a.body.id}/enrollments`, { token, body: { contactIds: [contacts[0].id] } });
    const enrollment = await eventually(async () => {
      const row = await stack().knex('automation_enrollments').where({ automation_id: a.body.id }).first();
      return row?.status === 'completed' ? row : undefined;
    }, 30_000, 200);
    const send = await stack().knex('automation_sends').where({ workflow_id: enrollment.workflow_id }).first();
    expect(send.status).to.equal('unknown');
    expect(stack().sendgrid.droppedSendIds.get(send.send_id)).to.equal(1);
    expect(stack().sendgrid.accepted.filter((p) => p.email === contacts[0].email)).to.have.length(0);
  });

  it('fails an automation step with the reason on a configuration error (bad key), and carries on', async () => {
    const { contacts } = await audience(1);
    const templateId = await marketingTemplate('Welcome, bad key');
    const token = await loginAs('marketer');
    const a = await api('POST', '/api/v1/automations', { token, body: { name: 'Bad key welcome', trigger: 'manual', steps: [{ send: { templateId } }] } });
    stack().sendgrid.failNext(401, 1);
    await api('POST', `/api/v1/automations/${a.body.id}/enrollments`, { token, body: { contactIds: [contacts[0].id] } });
    const enrollment = await eventually(async () => {
      const row = await stack().knex('automation_enrollments').where({ automation_id: a.body.id }).first();
      return row?.status === 'completed' ? row : undefined;
    }, 30_000, 200);
    const send = await stack().knex('automation_sends').where({ workflow_id: enrollment.workflow_id }).first();
    expect(send.status).to.equal('failed');
    expect(send.error).to.match(/SendGrid refused the API key \(401\)/);
    expect(stack().sendgrid.accepted.filter((p) => p.email === contacts[0].email)).to.have.length(0);
  });

  it('pauses a campaign the provider refuses our key for, with the reason, claims given back; a resume sends it once', async () => {
    const { segmentId } = await audience(15);
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    stack().sendgrid.failNext(401, 1);
    const id = await createAndSchedule(token, { name: 'Bad key', segmentId, variants: [{ name: 'A', templateId }] });
    const paused = await eventually(async () => {
      const c = await api('GET', `/api/v1/campaigns/${id}`, { token });
      return c.body.status === 'paused' ? c.body : undefined;
    }, 30_000, 200);
    expect(paused.progress.pausedBecause).to.match(/SendGrid refused the API key \(401\)/);
    expect(await statuses(id)).to.deep.equal({ pending: 15 });
    const resumed = await api('POST', `/api/v1/campaigns/${id}/resume`, { token });
    expect(resumed.status, JSON.stringify(resumed.body)).to.equal(200);
    const done = await finished(token, id);
    expect(done.progress).to.include({ sent: 15, unknown: 0, remaining: 0, phase: 'done' });
    const ids = await stack().knex('campaign_recipients').where({ campaign_id: id }).pluck('send_id');
    for (const sendId of ids) expect(stack().sendgrid.acceptedSendIds.get(sendId), sendId).to.equal(1);
  });
});
