/**
 * Engagement over HTTP, end to end: our own open pixel (/e/o) and click redirect (/e/c) become
 * the campaign's statistics; the List-Unsubscribe URL of a message actually sent, posted as a
 * mail client would (RFC 8058), keeps the contact out of the next campaign.
 */
import { expect } from 'chai';
import { clickUrl, openPixelUrl } from '../../integrations/email/links';
import { emailLinkSecret } from '../../platform/secrets';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { eventually } from '../support/bookings';
import { audience, marketingTemplate } from '../support/campaigns';

async function sendCampaign(segmentId: string, name: string) {
  const token = await loginAs('marketer');
  const templateId = await marketingTemplate(name);
  const c = await api('POST', '/api/v1/campaigns', { token, body: { name, segmentId, variants: [{ name: 'A', templateId }] } });
  expect(c.status, JSON.stringify(c.body)).to.equal(201);
  await api('POST', `/api/v1/campaigns/${c.body.id}/schedule`, { token, body: {} });
  return eventually(async () => {
    const x = await api('GET', `/api/v1/campaigns/${c.body.id}`, { token });
    return x.body.status === 'sent' ? x.body : undefined;
  }, 60_000, 250);
}

/** GET a path of ours without following redirects. */
async function get(path: string) {
  return fetch(`${stack().baseUrl}${path}`, { redirect: 'manual' });
}

describe('engagement over HTTP', function () {
  this.timeout(90_000);

  it('/e/o counts an open and /e/c a click (then redirects) for a sent message; tampered links count nothing', async () => {
    const { knex } = stack();
    const { segmentId } = await audience(2);
    const campaign = await sendCampaign(segmentId, 'Tracked');
    const [first, second] = await knex('campaign_recipients').where({ campaign_id: campaign.id }).orderBy('email').select('send_id', 'email');
    const secret = emailLinkSecret();
    const path = (url: string) => { const u = new URL(url); return `${u.pathname}${u.search}`; };

    const pixel = path(openPixelUrl('http://localhost', first.send_id, secret));
    const opened = await get(pixel);
    expect(opened.status).to.equal(200);
    expect(opened.headers.get('content-type')).to.equal('image/gif');
    expect(opened.headers.get('cache-control')).to.equal('no-store');
    expect(Buffer.from(await opened.arrayBuffer()).subarray(0, 6).toString()).to.equal('GIF89a');
    await get(pixel); // the same open again (an image reloaded): still one open
    // A pixel for another send, signed for the first: the same image, nothing counted.
    const forged = await get(pixel.replace(first.send_id, second.send_id));
    expect(forged.status).to.equal(200);
    expect(forged.headers.get('content-type')).to.equal('image/gif');

    const target = 'https://spirit-tours.test/tours/alhambra?utm_source=email';
    const click = path(clickUrl('http://localhost', second.send_id, target, secret));
    const clicked = await get(click);
    expect(clicked.status).to.equal(302);
    expect(clicked.headers.get('location')).to.equal(target);
    const redirectElsewhere = await get(click.replace(encodeURIComponent(target), encodeURIComponent('https://evil.example/')));
    expect(redirectElsewhere.status).to.equal(404);
    expect(redirectElsewhere.headers.get('location')).to.equal(null);

    const events = await knex('email_events').whereIn('send_id', [first.send_id, second.send_id]).orderBy('type').select('type', 'send_id', 'email', 'url');
    expect(events).to.deep.equal([
      { type: 'click', send_id: second.send_id, email: second.email, url: target },
      { type: 'open', send_id: first.send_id, email: first.email, url: null },
    ]);
    const report = (await api('GET', `/api/v1/campaigns/${campaign.id}`, { token: await loginAs('marketer') })).body.report;
    expect(report.A).to.include({ sent: 2, opens: 1, clicks: 1 });
  });

  it('unsubscribe end to end: the List-Unsubscribe URL of a sent message, posted one-click, keeps the contact out of the next campaign', async () => {
    const { knex, sendgrid } = stack();
    const { segmentId, contacts } = await audience(3);
    const firstCampaign = await sendCampaign(segmentId, 'First');
    const sendIds = new Set(await knex('campaign_recipients').where({ campaign_id: firstCampaign.id }).pluck('send_id'));
    const leaving = contacts[1];
    const message = sendgrid.accepted.find((p) => sendIds.has(p.sendId!) && p.email === leaving.email)!;
    const headers = sendgrid.render(message).headers;
    expect(headers['List-Unsubscribe-Post']).to.equal('List-Unsubscribe=One-Click');
    const url = new URL(/^<(.+)>$/.exec(headers['List-Unsubscribe'])![1]);
    // What a mail client does with the header: POST the URL with that one line as the body.
    const res = await fetch(`${stack().baseUrl}${url.pathname}${url.search}`, {
      method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual',
    });
    expect(res.status).to.equal(200);
    expect((await knex('contact_consents').where({ contact_id: leaving.id, channel: 'email' }).first()).status).to.equal('withdrawn');
    expect(await knex('suppressions').where({ email: leaving.email.toLowerCase() })).to.have.length(1);

    const secondCampaign = await sendCampaign(segmentId, 'Second');
    const rows = await knex('campaign_recipients').where({ campaign_id: secondCampaign.id }).select('contact_id', 'send_id', 'status');
    expect(rows.map((r) => r.contact_id).sort()).to.deep.equal([contacts[0].id, contacts[2].id].sort());
    expect(rows.every((r) => r.status === 'sent')).to.equal(true);
    const secondIds = new Set(rows.map((r) => r.send_id));
    const received = sendgrid.accepted.filter((p) => secondIds.has(p.sendId!)).map((p) => p.email).sort();
    expect(received).to.deep.equal([contacts[0].email, contacts[2].email].sort());
    expect(sendgrid.accepted.filter((p) => p.email === leaving.email)).to.have.length(1); // the first campaign's only
  });
});
