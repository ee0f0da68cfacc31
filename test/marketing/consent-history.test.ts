import crypto from 'node:crypto';
import { expect } from 'chai';
import { api, loginAs } from '../support/http';
import { stack } from '../support/stack';
import { testDataDir } from '../support/env';
import { emailLinkSecret } from '../../platform/secrets';
import { signUnsubscribeToken } from '../../integrations/email/links';
import { listOutbox, getOutboxMessage } from '../../integrations/email/outbox';

async function page(method: 'GET' | 'POST', path: string, body?: string) {
  const res = await fetch(`${stack().baseUrl}${path}`, { method, body, headers: body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' } });
  return { status: res.status, html: await res.text() };
}

async function newContact(consent = true) {
  const marketer = await loginAs('marketer');
  const res = await api('POST', '/api/v1/contacts', {
    token: marketer,
    body: { email: `consent.${crypto.randomBytes(4).toString('hex')}@example.com`, ...(consent ? { consent: { email: 'granted', source: 'web form' } } : {}) },
  });
  expect(res.status).to.equal(201);
  return { id: res.body.id as string, email: res.body.email as string, token: signUnsubscribeToken(res.body.id, emailLinkSecret()) };
}

const sendable = async (id: string) => (await stack().knex('contacts').where({ id }).first('email_sendable')).email_sendable;
const consent = (id: string) => stack().knex('contact_consents').where({ contact_id: id, channel: 'email' }).first();

async function confirmationLinkFor(email: string): Promise<string> {
  const summaries = await listOutbox({ dataDir: testDataDir, limit: 200 });
  const found = summaries.find((m) => m.to.email === email && m.sendId.startsWith('resubscribe-'));
  expect(found, `a confirmation email to ${email}`).to.not.equal(undefined);
  const message = await getOutboxMessage({ dataDir: testDataDir, sendId: found!.sendId });
  return new URL(/https?:\/\/\S+\/u\/confirm\/[A-Za-z0-9._%-]+/.exec(message!.text)![0]).pathname;
}

describe('consent: history, self-service withdrawals, expiring links, double opt-in', function () {
  this.timeout(30_000);

  it('keeps every decision in an append-only history; email_sendable follows the current one', async () => {
    const c = await newContact();
    expect(await sendable(c.id)).to.equal(true);
    await page('POST', `/u/${c.token}`, 'List-Unsubscribe=One-Click');
    expect(await sendable(c.id)).to.equal(false);
    const history = await api('GET', `/api/v1/contacts/${c.id}/consent-history`, { token: await loginAs('marketer') });
    expect(history.body.data.map((d: any) => `${d.status}:${d.source}`)).to.deep.equal(['granted:web form', 'withdrawn:unsubscribe link']);
    let refused: Error | undefined;
    await stack().knex('contact_consent_history').where({ contact_id: c.id }).update({ status: 'granted' }).catch((err: Error) => (refused = err));
    expect(refused?.message).to.match(/append-only/);
    await stack().knex('contact_consent_history').where({ contact_id: c.id }).delete().catch((err: Error) => (refused = err));
    expect(refused?.message).to.match(/append-only/);
    expect(await stack().knex('contact_consent_history').where({ contact_id: c.id }).count().first()).to.deep.equal({ count: 2 });
    expect(await stack().knex('audit_log').where({ entity_id: c.id, action: 'contact.unsubscribed' }).first()).to.not.equal(undefined);
  });

  it('staff cannot grant again what the person withdrew themselves (409), and nothing changes', async () => {
    const c = await newContact();
    await page('POST', `/u/${c.token}`, 'List-Unsubscribe=One-Click');
    const res = await api('PUT', `/api/v1/contacts/${c.id}/consent`, { token: await loginAs('marketer'), body: { channel: 'email', status: 'granted', source: 'phone call' } });
    expect(res.status).to.equal(409);
    expect(res.body.code).to.equal('self_withdrawal');
    expect(await consent(c.id)).to.include({ status: 'withdrawn', source: 'unsubscribe link' });
    expect(await sendable(c.id)).to.equal(false);
    // A staff withdrawal is theirs to reverse.
    const other = await newContact();
    const marketer = await loginAs('marketer');
    expect((await api('PUT', `/api/v1/contacts/${other.id}/consent`, { token: marketer, body: { channel: 'email', status: 'withdrawn', source: 'asked by phone' } })).status).to.equal(200);
    expect((await api('PUT', `/api/v1/contacts/${other.id}/consent`, { token: marketer, body: { channel: 'email', status: 'granted', source: 'asked by phone' } })).status).to.equal(200);
  });

  it('re-subscribing from the preferences page waits for the confirmation email; then email_sendable is true again', async () => {
    const c = await newContact();
    await page('POST', `/u/${c.token}`, 'List-Unsubscribe=One-Click');
    const asked = await page('POST', `/u/${c.token}`, 'action=preferences&email=on');
    expect(asked.status).to.equal(200);
    expect(asked.html).to.include('We sent an email to confirm');
    expect(await consent(c.id)).to.include({ status: 'withdrawn' });
    expect(await stack().knex('suppressions').where({ email: c.email.toLowerCase() }).first()).to.not.equal(undefined);
    // Sent again within ten minutes: no second email.
    expect((await page('POST', `/u/${c.token}`, 'action=preferences&email=on')).html).to.include('a few minutes ago');

    const link = await confirmationLinkFor(c.email);
    expect((await page('GET', link)).html).to.include('Yes, subscribe me'); // a GET changes nothing
    expect(await consent(c.id)).to.include({ status: 'withdrawn' });
    const confirmed = await page('POST', link);
    expect(confirmed.status).to.equal(200);
    expect(confirmed.html).to.include('subscribed again');
    expect(await consent(c.id)).to.include({ status: 'granted', source: 'confirmed by email' });
    expect(await stack().knex('suppressions').where({ email: c.email.toLowerCase() }).first()).to.equal(undefined);
    expect(await sendable(c.id)).to.equal(true);
    expect((await page('POST', `${link}x`)).status).to.equal(404); // tampered
  });

  it('an expired or undated unsubscribe link still unsubscribes (one-click too) but offers nothing else', async () => {
    const c = await newContact();
    const old = signUnsubscribeToken(c.id, emailLinkSecret(), new Date(Date.now() - 91 * 86_400_000));
    const shown = await page('GET', `/u/${old}`);
    expect(shown.status).to.equal(200);
    expect(shown.html).to.include('older email').and.not.include('name="action" value="preferences"');
    expect((await page('POST', `/u/${old}`, 'action=preferences&whatsapp=on')).status).to.equal(403);
    expect(await consent(c.id)).to.include({ status: 'granted' });
    expect((await page('POST', `/u/${old}`, 'List-Unsubscribe=One-Click')).status).to.equal(200);
    expect(await consent(c.id)).to.include({ status: 'withdrawn', source: 'unsubscribe link' });
  });
});
