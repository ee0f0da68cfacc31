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
    // Sending has stopped: over two seconds (at 50/s, about 100 more would go out), not one
    // more row is sent and SendGrid receives nothing more for this campaign.
    const sendsOfCampaign = async () => {
      const ids = new Set(await stack().knex('campaign_recipients').where({ campaign_id: c.body.id }).pluck('send_id'));
      return stack().sendgrid.accepted.filter((p) => ids.has(p.sendId!)).length;
    };
    const sentAtPause = (await sentTo(c.body.id)).find((r) => r.status === 'sent')!.n;
    const receivedAtPause = await sendsOfCampaign();
    expect(receivedAtPause).to.equal(sentAtPause);
    expect(sentAtPause).to.be.below(200);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await sentTo(c.body.id)).find((r) => r.status === 'sent')!.n).to.equal(sentAtPause);
    expect(await sendsOfCampaign()).to.equal(receivedAtPause);
    expect((await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body).to.deep.include({ status: 'paused' });

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
    const { knex, sendgrid } = stack();
    const { segmentId } = await audience(100);
    const a = await marketingTemplate('Subject A');
    const b = await marketingTemplate('Subject B');
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', {
      token, body: { name: 'AB', segmentId, variants: [{ name: 'A', templateId: a }, { name: 'B', templateId: b }], abTest: { metric: 'open', testPercent: 40, waitHours: 0.001 } },
    });
    expect(c.status, JSON.stringify(c.body)).to.equal(201);
    // No race with the 3.6-second wait: SendGrid refuses mail (429) until B's opens are recorded,
    // so the sample cannot go out, and the winner cannot be chosen, before they are.
    sendgrid.setThrottle({ limit: 0, windowMs: 500 });
    let bRows: Array<{ send_id: string; email: string }>;
    try {
      await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
      bRows = await eventually(async () => {
        const rows = await knex('campaign_recipients').where({ campaign_id: c.body.id, variant: 'B' }).select('send_id', 'email');
        return rows.length > 0 ? rows : undefined;
      }, 30_000, 100);
      // The sample really was held back: nothing of this campaign is sent yet.
      expect(await knex('campaign_recipients').where({ campaign_id: c.body.id, status: 'sent' })).to.have.length(0);
      const opened = await postEvents(bRows.map((r, i) => ({ email: r.email, event: 'open', sg_event_id: `open-${c.body.id}-${i}`, timestamp: Math.floor(Date.now() / 1000), send_id: r.send_id })));
      expect(opened.status, JSON.stringify(opened.body)).to.equal(200);
      expect(await knex('campaigns').where({ id: c.body.id }).first('winner_variant')).to.deep.equal({ winner_variant: null });
    } finally {
      sendgrid.setThrottle(null);
    }
    const done = await eventually(async () => {
      const x = await api('GET', `/api/v1/campaigns/${c.body.id}`, { token });
      return x.body.status === 'sent' ? x.body : undefined;
    }, 60_000, 250);
    expect(done.winnerVariant).to.equal('B');
    expect(done.progress.sent).to.equal(100);
    expect(done.report.B.opens).to.equal(bRows.length);
    const variants = await knex('campaign_recipients').where({ campaign_id: c.body.id }).groupBy('variant').select('variant', knex.raw('count(*)::int as n'));
    const byVariant = Object.fromEntries(variants.map((v) => [v.variant, v.n]));
    expect(byVariant.A + byVariant.B).to.equal(100);
    expect(byVariant.B).to.be.greaterThan(60);
    // The rest got B's subject.
    const ids = new Set(await knex('campaign_recipients').where({ campaign_id: c.body.id, variant: 'B' }).pluck('send_id'));
    const received = sendgrid.accepted.filter((p) => ids.has(p.sendId!));
    expect(received).to.have.length(byVariant.B);
    for (const p of received.slice(0, 5)) expect(sendgrid.render(p).subject).to.equal('Subject B');
  });

  it('turns signed SendGrid events into statistics: opens, clicks and bounces per variant, each send counted once', async () => {
    const { knex } = stack();
    const { segmentId } = await audience(5);
    const templateId = await marketingTemplate('Stats');
    const token = await loginAs('marketer');
    const c = await api('POST', '/api/v1/campaigns', { token, body: { name: 'Stats', segmentId, variants: [{ name: 'A', templateId }] } });
    await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
    await eventually(async () => (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.status === 'sent', 60_000, 250);
    const rows = await knex('campaign_recipients').where({ campaign_id: c.body.id }).orderBy('email').select('send_id', 'email');
    expect(rows).to.have.length(5);
    const at = Math.floor(Date.now() / 1000);
    const ev = (i: number, event: string, n = 0, extra: object = {}) => ({ email: rows[i].email, event, sg_event_id: `${event}-${n}-${rows[i].send_id}`, timestamp: at, send_id: rows[i].send_id, ...extra });
    const res = await postEvents([
      ...rows.map((_, i) => ev(i, 'delivered')),
      ev(0, 'open'), ev(0, 'open', 1), ev(1, 'open'), ev(2, 'open'), // recipient 0 opened twice: one open
      ev(0, 'click', 0, { url: 'https://spirit-tours.test/a' }), ev(1, 'click', 0, { url: 'https://spirit-tours.test/b' }),
      ev(4, 'bounce', 0, { type: 'bounce', reason: '550 no such user' }),
    ]);
    expect(res.body).to.deep.equal({ received: 12, stored: 12, duplicates: 0 });
    const report = (await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.report;
    expect(report.A).to.include({ sent: 5, opens: 3, clicks: 2, bounces: 1, delivereds: 5 });
    expect((await knex('suppressions').where({ email: rows[4].email }).first()).reason).to.equal('bounce');
    // A redelivered batch changes nothing.
    const again = await postEvents([ev(3, 'open'), ev(0, 'open')]);
    expect(again.body).to.deep.equal({ received: 2, stored: 1, duplicates: 1 });
    expect((await api('GET', `/api/v1/campaigns/${c.body.id}`, { token })).body.report.A).to.include({ sent: 5, opens: 4, clicks: 2, bounces: 1 });
  });

  it('turns signed SendGrid events into suppressions; refuses forged ones; ignores duplicates', async () => {
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
    expect(await stack().knex('email_events').where({ provider: 'sendgrid', event_id: `b-${email}` })).to.have.length(1);
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
