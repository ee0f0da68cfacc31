import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { sendgridWebhookKeys } from '../support/env';
import { signSendGridWebhook } from '../support/fake-sendgrid';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';

async function sentTo(campaignId: string) {
  return stack().knex('campaign_recipients').where({ campaign_id: campaignId }).groupBy('status').select('status', stack().knex.raw('count(*)::int as n'));
}

async function postEvents(events: object[]) {
  const body = JSON.stringify(events);
  const { signature, timestamp } = signSendGridWebhook(body, sendgridWebhookKeys.privateKey);
  return api('POST', '/api/v1/webhooks/sendgrid', { raw: body, headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': timestamp } });
}

describe('campaigns', function () {
  this.timeout(90_000);

  it('sends to every consented, unsuppressed contact of the segment exactly once', async () => {
    const { contacts, segmentId } = await audience(120, { suppressed: 7, withdrawn: 5 });
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    const created = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Spring', segmentId, variants: [{ name: 'A', templateId }] } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body.status).to.equal('draft');
    const scheduled = await api('POST', `/api/v1/campaigns/${created.body.id}/schedule`, { token, body: {} });
    expect(scheduled.status, JSON.stringify(scheduled.body)).to.equal(200);
    const done = await eventually(async () => {
      const c = await api('GET', `/api/v1/campaigns/${created.body.id}`, { token });
      return c.body.status === 'sent' ? c.body : undefined;
    }, 60_000, 250);
    expect(done.progress).to.include({ audience: 108, sent: 108, failed: 0, unknown: 0, remaining: 0 });
    const excluded = new Set([...contacts.slice(0, 5), ...contacts.slice(113)].map((c) => c.email));
    const ids = await stack().knex('campaign_recipients').where({ campaign_id: created.body.id }).pluck('send_id');
    for (const id of ids) expect(stack().sendgrid.acceptedSendIds.get(id), id).to.equal(1);
    const received = stack().sendgrid.accepted.filter((p) => ids.includes(p.sendId!));
    expect(received).to.have.length(108);
    expect(received.some((p) => excluded.has(p.email))).to.equal(false);
    const one = stack().sendgrid.render(received[0]);
    expect(one.headers['List-Unsubscribe']).to.match(/^<http.*\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/);
    expect(one.headers['List-Unsubscribe-Post']).to.equal('List-Unsubscribe=One-Click');
    expect(one.html).to.contain(`Hola ${received[0].email.includes('.0@') ? 'Guest0' : 'Guest'}`);
  });

  it('pauses, honours unsubscribes that arrive meanwhile, resumes and refuses impossible steps', async () => {
    const { contacts, segmentId } = await audience(200);
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Slow', segmentId, variants: [{ name: 'A', templateId }], ratePerSecond: 50 } });
    const early = await api('POST', `/api/v1/campaigns/${c.body.id}/pause`, { token });
    expect(early.status).to.equal(409);
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    await eventually(async () => (await stack().knex('campaign_recipients').where({ campaign_id: c.body.id, status: 'sent' })).length >= 50, 30_000, 50);
    const paused = await api('POST', `/api/v1/campaigns/${c.body.id}/pause`, { token });
    expect(paused.status, JSON.stringify(paused.body)).to.equal(200);
    expect(paused.body.status).to.equal('paused');
    const twice = await api('POST', `/api/v1/campaigns/${c.body.id}/pause`, { token });
    expect(twice.status).to.equal(409);
    // Unsubscribe 10 still waiting while paused (once the batch in flight has landed): they must never be mailed.
    await eventually(async () => (await stack().knex('campaign_recipients').where({ campaign_id: c.body.id, status: 'claimed' })).length === 0, 10_000, 50);
    const pendingIds = await stack().knex('campaign_recipients').where({ campaign_id: c.body.id, status: 'pending' }).limit(10).pluck('contact_id');
    expect(pendingIds).to.have.length(10);
    const late = contacts.filter((x) => pendingIds.includes(x.id));
    await stack().knex('suppressions').insert(late.map((x) => ({ email: x.email, reason: 'unsubscribe', source: 'test' })));
    const resumed = await api('POST', `/api/v1/campaigns/${c.body.id}/resume`, { token });
    expect(resumed.status).to.equal(200);
    await eventually(async () => (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.status === 'sent', 60_000, 250);
    const counts = Object.fromEntries((await sentTo(c.body.id)).map((r) => [r.status, r.n]));
    expect(counts).to.deep.equal({ sent: 190, suppressed: 10 });
    const lateIds = await stack().knex('campaign_recipients').where({ campaign_id: c.body.id }).whereIn('contact_id', late.map((x) => x.id)).pluck('send_id');
    for (const id of lateIds) expect(stack().sendgrid.acceptedSendIds.has(id)).to.equal(false);
    const cancelLate = await api('POST', `/api/v1/campaigns/${c.body.id}/cancel`, { token });
    expect(cancelLate.status).to.equal(409);
  });

  it('cancels a scheduled campaign before it starts', async () => {
    const { segmentId } = await audience(5);
    const templateId = await marketingTemplate();
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Later', segmentId, variants: [{ name: 'A', templateId }] } });
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: { at: new Date(Date.now() + 3600_000).toISOString() } });
    const cancelled = await api('POST', `/api/v1/campaigns/${c.body.id}/cancel`, { token });
    expect(cancelled.status).to.equal(200);
    await eventually(async () => (await stack().knex('campaigns').where({ id: c.body.id }).first()).status === 'cancelled');
    expect(await stack().knex('campaign_recipients').where({ campaign_id: c.body.id })).to.have.length(0);
  });

  it('tests two subjects on a sample and sends the winner (by opens) to the rest', async () => {
    const { segmentId } = await audience(100);
    const a = await marketingTemplate('Subject A');
    const b = await marketingTemplate('Subject B');
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', {
      token, body: { name: 'AB', segmentId, variants: [{ name: 'A', templateId: a }, { name: 'B', templateId: b }], abTest: { metric: 'open', testPercent: 40, waitHours: 0.001 } },
    });
    expect(c.status, JSON.stringify(c.body)).to.equal(201);
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    // While the test waits (3.6 s), B's recipients open.
    const bSends = await eventually(async () => {
      const rows = await stack().knex('campaign_recipients').where({ campaign_id: c.body.id, variant: 'B', status: 'sent' }).select('send_id', 'email');
      const total = await stack().knex('campaign_recipients').where({ campaign_id: c.body.id }).whereNot('variant', '*').whereNot('status', 'sent');
      return rows.length > 0 && total.length === 0 ? rows : undefined;
    }, 30_000, 100);
    const opened = await postEvents(bSends.map((r, i) => ({ email: r.email, event: 'open', sg_event_id: `open-${c.body.id}-${i}`, timestamp: Math.floor(Date.now() / 1000), send_id: r.send_id })));
    expect(opened.status, JSON.stringify(opened.body)).to.equal(200);
    const done = await eventually(async () => {
      const x = await api('GET', `/api/v1/campaigns/${c.body.id}`, { token });
      return x.body.status === 'sent' ? x.body : undefined;
    }, 60_000, 250);
    expect(done.winnerVariant).to.equal('B');
    expect(done.progress.sent).to.equal(100);
    expect(done.report.B.opens).to.equal(bSends.length);
    const variants = await stack().knex('campaign_recipients').where({ campaign_id: c.body.id }).groupBy('variant').select('variant', stack().knex.raw('count(*)::int as n'));
    const byVariant = Object.fromEntries(variants.map((v) => [v.variant, v.n]));
    expect(byVariant.A + byVariant.B).to.equal(100);
    expect(byVariant.B).to.be.greaterThan(60);
  });

  it('turns signed SendGrid events into statistics and suppressions; refuses forged ones; ignores duplicates', async () => {
    const email = `bouncy.${Date.now()}@example.com`;
    const events = [{ email, event: 'bounce', type: 'bounce', reason: '550 no such user', sg_event_id: `b-${email}`, timestamp: Math.floor(Date.now() / 1000) }];
    const body = JSON.stringify(events);
    const forged = await api('POST', '/api/v1/webhooks/sendgrid', { raw: body, headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': 'MEUCIQ==', 'x-twilio-email-event-webhook-timestamp': String(Math.floor(Date.now() / 1000)) } });
    expect(forged.status).to.equal(400);
    expect(await stack().knex('suppressions').where({ email })).to.have.length(0);
    const first = await postEvents(events);
    expect(first.body).to.deep.equal({ received: 1, stored: 1, duplicates: 0 });
    const again = await postEvents(events);
    expect(again.body).to.deep.equal({ received: 1, stored: 0, duplicates: 1 });
    expect((await stack().knex('suppressions').where({ email }).first()).reason).to.equal('bounce');
  });

  it('refuses bad campaigns with clear 4xx errors', async () => {
    const token = await loginAs('marketer');
    const { segmentId } = await audience(1);
    const tpl = await marketingTemplate();
    const cases: Array<[object, number]> = [
      [{ name: 'x', segmentId: '00000000-0000-4000-8000-000000000000', variants: [{ name: 'A', templateId: tpl }] }, 400],
      [{ name: 'x', segmentId, variants: [] }, 400],
      [{ name: 'x', segmentId, variants: [{ name: 'A', templateId: tpl }], abTest: { metric: 'open', testPercent: 10, waitHours: 1 } }, 400],
      [{ name: 'x', segmentId, variants: [{ name: 'A', templateId: tpl }], sendWindow: { startHour: 20, endHour: 8 } }, 400],
    ];
    for (const [body, status] of cases) {
      const res = await api('POST', '/api/v1/campaigns', { token, body });
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.headers.get('content-type')).to.contain('problem+json');
    }
    const customer = await api('POST', '/api/v1/campaigns', { token: await loginAs('customer'), body: { name: 'x', segmentId, variants: [{ name: 'A', templateId: tpl }] } });
    expect(customer.status).to.equal(403);
  });
});
