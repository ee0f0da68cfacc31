import crypto from 'node:crypto';
import { expect } from 'chai';
import { createSendGridProvider, parseSendGridEvents, retryAfterMs } from '../../integrations/email/sendgrid';
import { EmailConfigurationError, EmailWebhookRejected, type EmailMessage, type EmailProvider } from '../../integrations/email/types';
import { createWebhookKeys, signSendGridWebhook, startFakeSendGrid, type FakeSendGrid } from '../support/fake-sendgrid';

const HTML = '<html><body><p>Hola {{first_name}}, new tours in Granada!</p><p><a href="https://spirit.example/tours/granada">See tours</a></p>'
  + '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>';
const TEXT = 'Hola {{first_name}}, new tours in Granada: https://spirit.example/tours/granada\nUnsubscribe: {{unsubscribe_url}}';

function campaignMessage(n: number, overrides: Partial<EmailMessage> = {}): EmailMessage {
  return {
    sendId: `c42-${n}`,
    kind: 'marketing',
    to: { email: `guest${n}@example.com`, name: `Guest ${n}` },
    from: { email: 'news@spirit-tours.example', name: 'Spirit Tours' },
    subject: 'Autumn in Andalusia',
    html: HTML,
    text: TEXT,
    categories: ['campaign', 'campaign-42'],
    substitutions: { first_name: `Guest${n}` },
    unsubscribeUrl: `https://spirit.example/unsubscribe/tok-${n}`,
    ...overrides,
  };
}

function many(count: number, from = 0): EmailMessage[] {
  return Array.from({ length: count }, (_, i) => campaignMessage(from + i));
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected the promise to reject');
}

describe('SendGrid email provider (real @sendgrid/mail against a local SendGrid-format server)', () => {
  let fake: FakeSendGrid;
  let sendgrid: EmailProvider;

  before(async () => {
    fake = await startFakeSendGrid();
    sendgrid = createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url });
  });
  beforeEach(() => fake.reset());
  after(() => fake.close());

  it('sends 2,500 recipients of one campaign as 3 requests of at most 1,000 personalizations, each recipient once', async () => {
    const messages = many(2500);
    const results = await sendgrid.send(messages);

    expect(fake.requests.map((r) => r.status)).to.deep.equal([202, 202, 202]);
    const sizes = fake.requests.map((r) => r.body.personalizations.length);
    expect(sizes.every((n) => n <= 1000)).to.equal(true);
    expect(sizes.reduce((a, b) => a + b, 0)).to.equal(2500);
    expect(fake.acceptedRecipients).to.equal(2500);
    expect([...fake.acceptedSendIds.values()].every((n) => n === 1)).to.equal(true);
    expect([...fake.acceptedSendIds.keys()].sort()).to.deep.equal(messages.map((m) => m.sendId).sort());

    expect(results).to.have.length(2500);
    results.forEach((result, i) => expect(result).to.include({ sendId: messages[i].sendId, status: 'accepted' }));
    const messageIds = new Set(fake.requests.map((r) => r.messageId));
    expect(results.every((r) => messageIds.has(r.providerMessageId))).to.equal(true);
  });

  it('gives each recipient its send id (custom_args), its own List-Unsubscribe headers and unsubscribe link', async () => {
    await sendgrid.send(many(3));
    const [request] = fake.requests;
    expect(request.headers.authorization).to.equal(`Bearer ${fake.apiKey}`);
    expect(request.body.from).to.deep.equal({ email: 'news@spirit-tours.example', name: 'Spirit Tours' });
    expect(request.body.categories).to.deep.equal(['campaign', 'campaign-42']);
    expect(request.body.content.map((c: any) => c.type)).to.deep.equal(['text/plain', 'text/html']);
    expect(request.body.tracking_settings).to.deep.equal({ click_tracking: { enable: true, enable_text: false }, open_tracking: { enable: true } });
    // SendGrid's click tracking must leave the unsubscribe link alone.
    expect(request.body.content[1].value).to.include('<a clicktracking="off" href="{{unsubscribe_url}}">');

    for (const [n, p] of fake.accepted.entries()) {
      expect(p.customArgs).to.deep.equal({ send_id: `c42-${n}` });
      expect(p.headers).to.deep.equal({
        'List-Unsubscribe': `<https://spirit.example/unsubscribe/tok-${n}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      });
      const received = fake.render(p);
      expect(received.html).to.include(`Hola Guest${n},`).and.include(`href="https://spirit.example/unsubscribe/tok-${n}"`);
      expect(received.text).to.include(`Unsubscribe: https://spirit.example/unsubscribe/tok-${n}`);
      expect(received.html).not.to.include('{{');
    }
  });

  it('batches recipients whose body holds their own literal unsubscribe URL, by turning it into the token', async () => {
    const messages = many(4).map((m) => ({ ...m, html: `<p>Hi</p><a href="${m.unsubscribeUrl}">Unsubscribe</a>`, text: `Unsubscribe: ${m.unsubscribeUrl}` }));
    await sendgrid.send(messages);
    expect(fake.requests).to.have.length(1);
    fake.accepted.forEach((p, n) => expect(fake.render(p).html).to.include(`href="https://spirit.example/unsubscribe/tok-${n}"`));
  });

  it('sends different content, and a repeated address, in separate requests', async () => {
    const messages = [
      campaignMessage(1), campaignMessage(2, { subject: 'Variant B' }),
      campaignMessage(3), campaignMessage(4, { to: { email: 'GUEST1@example.com' } }),
    ];
    const results = await sendgrid.send(messages);
    expect(results.map((r) => r.status)).to.deep.equal(['accepted', 'accepted', 'accepted', 'accepted']);
    expect(fake.requests.map((r) => r.status)).to.deep.equal([202, 202, 202]);
    const subjects = fake.requests.map((r) => `${r.body.subject}:${r.body.personalizations.length}`).sort();
    expect(subjects).to.deep.equal(['Autumn in Andalusia:1', 'Autumn in Andalusia:2', 'Variant B:1']);
  });

  it('turns a 429 into retry with the wait from X-RateLimit-Reset, and makes no further requests in that call', async () => {
    fake.setThrottle({ limit: 1, windowMs: 5000 });
    const started = Date.now();
    const provider = createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url, concurrency: 1 });
    const results = await provider.send(many(2500));

    expect(fake.requests.map((r) => r.status)).to.deep.equal([202, 429]);
    expect(results.slice(0, 1000).every((r) => r.status === 'accepted')).to.equal(true);
    const retried = results.slice(1000);
    expect(retried.every((r) => r.status === 'retry')).to.equal(true);
    // X-RateLimit-Reset is the end of the fake's 5 s window, in whole unix seconds.
    const windowEnd = Math.ceil((fake.requests[0].at + 5000) / 1000) * 1000;
    for (const r of retried) expect(r.retryAfterMs).to.be.within(windowEnd - Date.now() - 100, windowEnd - started);
    expect(retried[0].error).to.match(/throttled by SendGrid: too many requests/);

    // The same provider keeps off SendGrid until the window has passed.
    const again = await provider.send(many(1, 5000));
    expect(again[0].status).to.equal('retry');
    expect(fake.requests).to.have.length(2);
  });

  it('reads Retry-After (seconds or a date) when there is no X-RateLimit-Reset', () => {
    const now = Date.parse('2026-11-28T10:00:00Z');
    expect(retryAfterMs({ 'x-ratelimit-reset': String(now / 1000 + 7) }, now)).to.equal(7000);
    expect(retryAfterMs({ 'retry-after': '3' }, now)).to.equal(3000);
    expect(retryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 10:00:10 GMT' }, now)).to.equal(10_000);
    expect(retryAfterMs({}, now)).to.equal(1000);
  });

  it('rejects only the recipients a 400 names, with SendGrid\'s message, and sends the others again', async () => {
    const messages = many(10);
    messages[3] = campaignMessage(3, { to: { email: 'bob@nodot' } }); // plausible to us, not to SendGrid
    const results = await sendgrid.send(messages);

    expect(fake.requests.map((r) => r.status)).to.deep.equal([400, 202]);
    expect(fake.requests[0].errors).to.deep.include({
      message: 'Does not contain a valid address.', field: 'personalizations.3.to.0.email',
      help: 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to',
    });
    expect(results[3]).to.deep.equal({ sendId: 'c42-3', status: 'rejected', error: 'Does not contain a valid address. (personalizations.3.to.0.email)' });
    expect(results.filter((r) => r.status === 'accepted')).to.have.length(9);
    expect(fake.acceptedRecipients).to.equal(9);
  });

  it('rejects the whole request on a 400 about the request itself', async () => {
    const results = await sendgrid.send(many(5).map((m) => ({ ...m, from: { email: 'news@localhost' } })));
    expect(fake.requests.map((r) => r.status)).to.deep.equal([400]);
    expect(results.every((r) => r.status === 'rejected')).to.equal(true);
    expect(results[0].error).to.match(/^The from object must be provided for every email send\..* \(from\.email\)$/);
  });

  it('rejects, without a request, a marketing email without its unsubscribe link', async () => {
    const results = await sendgrid.send([
      campaignMessage(1, { unsubscribeUrl: undefined }),
      campaignMessage(2, { html: '<p>no link</p>', text: 'no link' }),
      campaignMessage(3, { headers: { Subject: 'sneaky' } }),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
    expect(results[0].error).to.match(/must carry an unsubscribe link/);
    expect(results[1].error).to.match(/must show its unsubscribe link/);
    expect(results[2].error).to.match(/set by the provider/);
    expect(fake.requests).to.have.length(0);
  });

  it('throws on a 5xx when nothing went through, so the activity retries', async () => {
    fake.failNext(503);
    const err = await rejection(sendgrid.send(many(5)));
    expect(err.message).to.match(/SendGrid answered 503/);
    expect(fake.acceptedRecipients).to.equal(0);
  });

  it('marks retry (instead of throwing) the requests that failed when others of the call were accepted', async () => {
    fake.failNext(500);
    const results = await createSendGridProvider({ apiKey: fake.apiKey, baseUrl: fake.url, concurrency: 1 }).send(many(2500));
    expect(fake.requests.map((r) => r.status)).to.deep.equal([500, 202, 202]);
    expect(results.slice(0, 1000).every((r) => r.status === 'retry' && /not sent: SendGrid answered 500/.test(r.error!))).to.equal(true);
    expect(results.slice(1000).every((r) => r.status === 'accepted')).to.equal(true);
  });

  it('throws on network errors', async () => {
    const closed = await startFakeSendGrid();
    await closed.close();
    const err = await rejection(createSendGridProvider({ apiKey: 'SG.x', baseUrl: closed.url }).send(many(1)));
    expect((err as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  it('fails a wrong API key as a configuration error', async () => {
    const err = await rejection(createSendGridProvider({ apiKey: 'SG.wrong', baseUrl: fake.url }).send(many(2)));
    expect(err).to.be.instanceOf(EmailConfigurationError);
    expect(err.message).to.match(/401.*authorization grant is invalid/);
  });

  describe('signed event webhook', () => {
    const keys = createWebhookKeys();
    const events = [
      { email: 'guest1@example.com', timestamp: 1_795_000_000, event: 'processed', sg_event_id: 'ev-0', sg_message_id: 'msg.filter1', send_id: 'c42-1' },
      { email: 'guest1@example.com', timestamp: 1_795_000_001, event: 'delivered', sg_event_id: 'ev-1', sg_message_id: 'msg.filter1', send_id: 'c42-1', response: '250 OK' },
      { email: 'guest1@example.com', timestamp: 1_795_000_100, event: 'open', sg_event_id: 'ev-2', sg_message_id: 'msg.filter1', send_id: 'c42-1', useragent: 'Mozilla' },
      { email: 'guest1@example.com', timestamp: 1_795_000_200, event: 'click', sg_event_id: 'ev-3', sg_message_id: 'msg.filter1', send_id: 'c42-1', url: 'https://spirit.example/tours/granada' },
      { email: 'guest2@example.com', timestamp: 1_795_000_002, event: 'bounce', sg_event_id: 'ev-4', send_id: 'c42-2', type: 'bounce', reason: '550 5.1.1 User unknown' },
      { email: 'guest3@example.com', timestamp: 1_795_000_003, event: 'dropped', send_id: 'c42-3', reason: 'Bounced Address' },
      { email: 'guest4@example.com', timestamp: 1_795_000_004, event: 'spamreport', sg_event_id: 'ev-6', send_id: 'c42-4' },
      { email: 'guest5@example.com', timestamp: 1_795_000_005, event: 'unsubscribe', sg_event_id: 'ev-7', send_id: 'c42-5' },
      { email: 'guest6@example.com', timestamp: 1_795_000_006, event: 'group_unsubscribe', sg_event_id: 'ev-8', send_id: 'c42-6', asm_group_id: 1 },
      { email: 'guest7@example.com', timestamp: 1_795_000_007, event: 'deferred', sg_event_id: 'ev-9', send_id: 'c42-7', response: '400 try again later', attempt: '5' },
    ];
    const body = JSON.stringify(events, null, 1); // not compact: the signature covers the bytes as sent

    it('accepts a genuine delivery and maps every event we track', () => {
      const { signature, timestamp } = signSendGridWebhook(body, keys.privateKey);
      const parsed = parseSendGridEvents(Buffer.from(body), signature, timestamp, keys.publicKeyBase64);
      expect(parsed.map((e) => e.type)).to.deep.equal(['delivered', 'open', 'click', 'bounce', 'dropped', 'spamreport', 'unsubscribe', 'unsubscribe', 'deferred']);
      expect(parsed[0]).to.deep.equal({
        provider: 'sendgrid', eventId: 'ev-1', type: 'delivered', sendId: 'c42-1', email: 'guest1@example.com',
        at: new Date(1_795_000_001_000), reason: '250 OK', providerMessageId: 'msg.filter1',
      });
      expect(parsed[2]).to.include({ url: 'https://spirit.example/tours/granada', sendId: 'c42-1' });
      expect(parsed[3]).to.include({ reason: '550 5.1.1 User unknown', bounceType: 'bounce', sendId: 'c42-2' });
      expect(parsed[4].eventId).to.match(/^sha256:/); // no sg_event_id: a stable digest
      const again = parseSendGridEvents(body, signature, timestamp, keys.publicKeyBase64);
      expect(again[4].eventId).to.equal(parsed[4].eventId);
    });

    it('rejects a delivery signed with another key (forged)', () => {
      const { signature, timestamp } = signSendGridWebhook(body, createWebhookKeys().privateKey);
      expect(() => parseSendGridEvents(body, signature, timestamp, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /does not verify/);
    });

    it('rejects a tampered body or timestamp', () => {
      const { signature, timestamp } = signSendGridWebhook(body, keys.privateKey);
      expect(() => parseSendGridEvents(body.replace('c42-2', 'c42-9'), signature, timestamp, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /does not verify/);
      expect(() => parseSendGridEvents(body, signature, String(Number(timestamp) - 1), keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /does not verify/);
      expect(() => parseSendGridEvents(body, 'bm90IGEgc2lnbmF0dXJl', timestamp, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /does not verify/);
    });

    it('rejects a stale (replayed) delivery even with a valid signature', () => {
      const old = Math.floor(Date.now() / 1000) - 3600;
      const { signature, timestamp } = signSendGridWebhook(body, keys.privateKey, old);
      expect(() => parseSendGridEvents(body, signature, timestamp, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /stale/);
      expect(parseSendGridEvents(body, signature, timestamp, keys.publicKeyBase64, { toleranceSeconds: 7200 })).to.have.length(9);
    });

    it('rejects a delivery without the signature headers, and a key that is not one', () => {
      const { signature, timestamp } = signSendGridWebhook(body, keys.privateKey);
      expect(() => parseSendGridEvents(body, undefined, timestamp, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /Signature header/);
      expect(() => parseSendGridEvents(body, signature, undefined, keys.publicKeyBase64)).to.throw(EmailWebhookRejected, /Timestamp header/);
      expect(() => parseSendGridEvents(body, signature, timestamp, 'bm90IGEga2V5')).to.throw(EmailConfigurationError);
      const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
      expect(() => parseSendGridEvents(body, signature, timestamp, rsa)).to.throw(EmailConfigurationError, /EC key/);
    });
  });
});
