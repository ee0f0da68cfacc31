import crypto from 'node:crypto';
import { expect } from 'chai';
import { emailLinkSecret } from '../../platform/secrets';
import { signUnsubscribeToken } from '../../integrations/email/links';
import { TEST_SEND_UNSUBSCRIBE_SUBJECT } from '../../models/templates';
import { stack } from '../support/stack';
import { testDataDir } from '../support/env';
import { getOutboxMessage, listOutbox } from '../../integrations/email/outbox';

async function page(method: 'GET' | 'POST', token: string, body?: string, type = 'application/x-www-form-urlencoded') {
  const res = await fetch(`${stack().baseUrl}/u/${token}`, { method, body, headers: body === undefined ? {} : { 'content-type': type } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, html: await res.text() };
}

describe('unsubscribe and preferences page', function () {
  this.timeout(30_000);
  const tag = crypto.randomBytes(3).toString('hex');

  async function contact(language: 'es' | 'en', consent: { email?: string; whatsapp?: string } = { email: 'granted' }) {
    const { knex } = stack();
    const [row] = await knex('contacts').insert({ email: `Unsub.${language}.${crypto.randomBytes(3).toString('hex')}.${tag}@Example.com`, language, source: 'import' }).returning('*');
    for (const [channel, status] of Object.entries(consent)) await knex('contact_consents').insert({ contact_id: row.id, channel, status, source: 'import:test' });
    return { ...row, token: signUnsubscribeToken(row.id, emailLinkSecret()) };
  }

  const consentOf = (id: string, channel: string) => stack().knex('contact_consents').where({ contact_id: id, channel }).first();
  const suppressionOf = (email: string) => stack().knex('suppressions').where({ email: email.toLowerCase() }).first();

  it('shows which address, an Unsubscribe button and the preferences, in the contact\'s language, changing nothing', async () => {
    const en = await contact('en', { email: 'granted', whatsapp: 'granted' });
    const res = await page('GET', en.token);
    expect(res.status).to.equal(200);
    expect(res.type).to.match(/text\/html/);
    expect(res.html).to.include(en.email);
    expect(res.html).to.include('<form method="post"><input type="hidden" name="action" value="unsubscribe">');
    expect(res.html).to.match(/name="email" value="on" checked/);
    expect(res.html).to.match(/name="whatsapp" value="on" checked/);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    expect(res.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(await consentOf(en.id, 'email')).to.include({ status: 'granted' });

    const es = await contact('es');
    const spanish = await page('GET', es.token);
    expect(spanish.html).to.include('lang="es"');
    expect(spanish.html).to.include('Darme de baja');
  });

  it('one-click POST (RFC 8058) withdraws email consent and suppresses the address, idempotently', async () => {
    const c = await contact('en');
    const res = await page('POST', c.token, 'List-Unsubscribe=One-Click');
    // Done in the answer itself: no redirect, no confirmation step for the mail client to follow.
    expect(res.status).to.equal(200);
    const consent = await consentOf(c.id, 'email');
    expect(consent).to.include({ status: 'withdrawn', source: 'unsubscribe link' });
    expect(await suppressionOf(c.email)).to.include({ email: c.email.toLowerCase(), reason: 'unsubscribe', source: 'unsubscribe link' });

    const again = await page('POST', c.token, 'List-Unsubscribe=One-Click');
    expect(again.status).to.equal(200);
    expect(+(await consentOf(c.id, 'email')).recorded_at).to.equal(+consent.recorded_at);
    expect(await stack().knex('suppressions').where({ email: c.email.toLowerCase() }).count().first()).to.deep.equal({ count: 1 });
    expect((await page('GET', c.token)).html).to.include('This address is unsubscribed');
  });

  it('one-click as multipart/form-data, the page\'s button, and a token naming contact:list', async () => {
    const multi = await contact('en');
    const boundary = 'XyZ123';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    expect((await page('POST', multi.token, body, `multipart/form-data; boundary=${boundary}`)).status).to.equal(200);
    expect(await consentOf(multi.id, 'email')).to.include({ status: 'withdrawn' });

    const button = await contact('es');
    const res = await page('POST', signUnsubscribeToken(`${button.id}:newsletter`, emailLinkSecret()), 'action=unsubscribe');
    expect(res.status).to.equal(200);
    expect(res.html).to.include('Te has dado de baja');
    expect(await consentOf(button.id, 'email')).to.include({ status: 'withdrawn', source: 'unsubscribe link' });
    expect(await suppressionOf(button.email)).to.include({ reason: 'unsubscribe' });

    const nothing = await page('POST', button.token, 'hello=world');
    expect(nothing.status).to.equal(400);
  });

  it('preferences withdraw at once; what they grant waits for the confirmation email, which lifts their own unsubscribe but never a bounce', async () => {
    const confirm = async (email: string) => {
      const found = (await listOutbox({ dataDir: testDataDir, limit: 200 })).find((m) => m.to.email === email && m.sendId.startsWith('resubscribe-'));
      const message = await getOutboxMessage({ dataDir: testDataDir, sendId: found!.sendId });
      const link = new URL(/https?:\/\/\S+\/u\/confirm\/[A-Za-z0-9._%-]+/.exec(message!.text)![0]).pathname;
      return fetch(`${stack().baseUrl}${link}`, { method: 'POST' });
    };
    const c = await contact('en', { email: 'granted' });
    let res = await page('POST', c.token, 'action=preferences&whatsapp=on');
    expect(res.status).to.equal(200);
    expect(res.html).to.include('We sent an email to confirm');
    expect(await consentOf(c.id, 'email')).to.include({ status: 'withdrawn', source: 'preferences page' });
    expect(await consentOf(c.id, 'whatsapp')).to.equal(undefined);
    expect(await suppressionOf(c.email)).to.include({ reason: 'unsubscribe' });
    expect((await confirm(c.email)).status).to.equal(200);
    expect(await consentOf(c.id, 'whatsapp')).to.include({ status: 'granted', source: 'confirmed by email' });

    res = await page('POST', c.token, 'action=preferences');
    expect(res.html).to.include('Your preferences are saved.');
    expect(await consentOf(c.id, 'whatsapp')).to.include({ status: 'withdrawn', source: 'preferences page' });

    const bounced = await contact('en', {});
    await stack().knex('suppressions').insert({ email: bounced.email.toLowerCase(), reason: 'bounce', source: 'sendgrid' });
    await page('POST', bounced.token, 'action=preferences&email=on');
    expect((await confirm(bounced.email)).status).to.equal(200);
    expect(await consentOf(bounced.id, 'email')).to.include({ status: 'granted' });
    expect(await suppressionOf(bounced.email)).to.include({ reason: 'bounce' });
  });

  it('answers a tampered, malformed or unknown token with a 404 page, not an error', async () => {
    const c = await contact('en');
    const [subject, signature] = c.token.split('.');
    const other = Buffer.from(crypto.randomUUID()).toString('base64url');
    for (const token of [`${other}.${signature}`, `${subject}.${signature.slice(0, -2)}AA`, 'nonsense', `${subject}`, signUnsubscribeToken(crypto.randomUUID(), emailLinkSecret()), signUnsubscribeToken('not-a-uuid', emailLinkSecret())]) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await page(method, encodeURIComponent(token), method === 'POST' ? 'List-Unsubscribe=One-Click' : undefined);
        expect(res.status, `${method} ${token}`).to.equal(404);
        expect(res.type).to.match(/text\/html/);
        expect(res.html).to.include('Link not valid');
        expect(res.html).to.not.match(/at .*\.ts:\d+/);
      }
    }
    expect(await consentOf(c.id, 'email')).to.include({ status: 'granted' });
    const test = await page('POST', signUnsubscribeToken(TEST_SEND_UNSUBSCRIBE_SUBJECT, emailLinkSecret()), 'List-Unsubscribe=One-Click');
    expect(test.status).to.equal(200);
    expect(test.html).to.include('test email');
  });
});
