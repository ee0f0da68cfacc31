import { expect } from 'chai';
import { verifyLink } from '../../integrations/email/links';
import { createSmtpProvider } from '../../integrations/email/smtp';
import type { EmailMessage, EmailProvider } from '../../integrations/email/types';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';

const SECRET = 'link-secret-for-tests';
const PUBLIC_URL = 'https://spirit.example';

function message(n: number, overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    sendId: `c7-${n}`,
    kind: 'marketing',
    to: { email: `guest${n}@example.com`, name: `Guest ${n}` },
    from: { email: 'news@spirit-tours.example', name: 'Spirit Tours' },
    subject: 'Hola {{first_name}}',
    html: '<html><body><p>Hola {{first_name}}</p><a href="https://spirit.example/tours?city=granada&amp;month=10">Tours</a>'
      + ' <a href="mailto:help@spirit-tours.example">Write to us</a> <a href="{{unsubscribe_url}}">Unsubscribe</a></body></html>',
    text: 'Hola {{first_name}}\nUnsubscribe: {{unsubscribe_url}}',
    substitutions: { first_name: `Guest${n}` },
    unsubscribeUrl: `${PUBLIC_URL}/unsubscribe/tok-${n}`,
    ...overrides,
  };
}

/** Quoted-printable, as nodemailer encodes the html part, back to text. */
function decodeQuotedPrintable(value: string): string {
  return Buffer.from(value.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected the promise to reject');
}

describe('SMTP email provider (pooled nodemailer against a local SMTP sink)', () => {
  let sink: SmtpSink;
  let smtp: EmailProvider;

  before(async () => {
    sink = await startSmtpSink({ refuse: /^nobody@/, defer: /^greylisted@/ });
    smtp = createSmtpProvider({ url: sink.url, maxConnections: 5, tracking: { publicUrl: PUBLIC_URL, secret: SECRET } });
  });
  beforeEach(() => sink.reset());
  after(async () => {
    await smtp.close();
    await sink.close();
  });

  it('sends a few hundred messages over the pool, each with Message-ID <sendId@domain> and its headers', async function () {
    this.timeout(30_000);
    const messages = Array.from({ length: 300 }, (_, i) => message(i));
    const results = await smtp.send(messages);

    expect(results.every((r, i) => r.status === 'accepted' && r.sendId === messages[i].sendId)).to.equal(true);
    expect(sink.count).to.equal(300);
    expect(sink.connections.size).to.be.within(2, 5);
    for (const [i, m] of messages.entries()) {
      const received = sink.byMessageId(`<${m.sendId}@spirit-tours.example>`)!;
      expect(received, m.sendId).to.not.equal(undefined);
      expect(results[i].providerMessageId).to.equal(`<${m.sendId}@spirit-tours.example>`);
      expect(received.recipients).to.deep.equal([m.to.email]);
      expect(received.headers['x-spirit-send-id']).to.equal(m.sendId);
      expect(received.headers['list-unsubscribe']).to.equal(`<${PUBLIC_URL}/unsubscribe/tok-${i}>`);
      expect(received.headers['list-unsubscribe-post']).to.equal('List-Unsubscribe=One-Click');
      expect(received.headers.subject).to.equal(`Hola Guest${i}`);
    }
  });

  it('renders substitutions, rewrites links to signed click URLs and adds the open pixel; the unsubscribe link stays as is', async () => {
    await smtp.send([message(1)]);
    const raw = sink.messages[0].raw!;
    const htmlPart = decodeQuotedPrintable(raw.slice(raw.indexOf('Content-Type: text/html')));
    expect(raw).to.include('Hola Guest1\r\nUnsubscribe: https://spirit.example/unsubscribe/tok-1');
    expect(htmlPart).to.include('<p>Hola Guest1</p>');
    expect(htmlPart).to.include(`<a href="${PUBLIC_URL}/unsubscribe/tok-1">Unsubscribe</a>`);
    expect(htmlPart).to.include('<a href="mailto:help@spirit-tours.example">');

    const click = /<a href="([^"]*\/e\/c\/[^"]*)">Tours<\/a>/.exec(htmlPart)![1].replace(/&amp;/g, '&');
    expect(verifyLink(click, SECRET)).to.deep.equal({ kind: 'click', sendId: 'c7-1', targetUrl: 'https://spirit.example/tours?city=granada&month=10' });
    const pixel = /<img src="([^"]*\/e\/o\/[^"]*)"/.exec(htmlPart)![1];
    expect(verifyLink(pixel, SECRET)).to.deep.equal({ kind: 'open', sendId: 'c7-1' });
  });

  it('sends bodies quoted-printable by default, base64 when configured, decoding to the same text', async () => {
    await smtp.send([message(2)]);
    expect(sink.messages[0].raw!).to.match(/Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable/);
    const b64 = createSmtpProvider({ url: sink.url, maxConnections: 1, transferEncoding: 'base64' });
    try {
      await b64.send([message(3)]);
    } finally {
      await b64.close();
    }
    const raw = sink.messages[1].raw!;
    const part = /Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/.exec(raw);
    expect(part, 'a base64 html part').to.not.equal(null);
    expect(Buffer.from(part![1].replace(/\r\n/g, ''), 'base64').toString('utf8')).to.include('<p>Hola Guest3</p>');
  });

  it('rejects a recipient the server refuses for good, retries one it defers, and sends the rest', async () => {
    const results = await smtp.send([
      message(1), message(2, { to: { email: 'nobody@example.com' } }), message(3, { to: { email: 'greylisted@example.com' } }),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['accepted', 'rejected', 'retry']);
    expect(results[1].error).to.match(/^550 5\.1\.1 <nobody@example\.com>: Recipient address rejected/);
    expect(results[2].error).to.match(/^451 4\.7\.1/);
    expect(sink.count).to.equal(1);
  });

  it('rejects, without sending, a marketing email without an unsubscribe link', async () => {
    const results = await smtp.send([message(1, { unsubscribeUrl: undefined })]);
    expect(results[0]).to.include({ status: 'rejected' });
    expect(sink.count).to.equal(0);
  });

  it('throws when the server cannot be reached, so the activity retries', async function () {
    this.timeout(20_000);
    const gone = await startSmtpSink();
    await gone.close();
    const provider = createSmtpProvider({ url: gone.url, maxConnections: 2 });
    try {
      const err = await rejection(provider.send([message(1), message(2)]));
      expect(err.message).to.match(/ECONNREFUSED|connect/i);
    } finally {
      await provider.close();
    }
  });

  it('refuses an SMTP_URL that is not smtp:// or smtps://', () => {
    expect(() => createSmtpProvider({ url: 'http://mail.example.com' })).to.throw(/smtp:\/\/ or smtps:\/\//);
  });
});
