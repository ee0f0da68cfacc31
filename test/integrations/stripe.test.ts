import crypto from 'node:crypto';
import { expect } from 'chai';
import Stripe from 'stripe';
import { createStripeProvider, parseStripeWebhook, stripeHostOptions } from '../../integrations/payments/stripe';
import { PaymentRefused, WebhookRejected, type AuthorizeRequest, type PaymentProvider } from '../../integrations/payments/types';
import { signStripeEvent, startFakeStripe, type FakeStripe } from '../support/fake-stripe';

const WEBHOOK_SECRET = 'whsec_test_secret';

function authorizeRequest(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  const bookingId = crypto.randomUUID();
  return {
    idempotencyKey: `booking-${bookingId}/pay-1/authorize`,
    amountMinor: 12_500,
    currency: 'EUR',
    paymentMethod: 'pm_card_visa',
    bookingId,
    bookingReference: 'ST-ABC123',
    description: 'Alhambra day trip, 2 pax',
    returnUrl: 'http://localhost:3000/bookings/return',
    ...overrides,
  };
}

async function refused(promise: Promise<unknown>): Promise<PaymentRefused> {
  try {
    await promise;
  } catch (err) {
    expect(err, (err as Error).message).to.be.instanceOf(PaymentRefused);
    return err as PaymentRefused;
  }
  return expect.fail('expected PaymentRefused');
}

describe('Stripe provider (real SDK against a local fake Stripe)', () => {
  let fake: FakeStripe;
  let stripe: PaymentProvider;

  before(async () => {
    fake = await startFakeStripe();
    stripe = createStripeProvider({ secretKey: 'sk_test_fake', apiBase: fake.url, webhookSecret: WEBHOOK_SECRET, publicUrl: 'http://localhost:3000' });
  });
  after(() => fake.close());

  it('parses STRIPE_API_BASE into the SDK host options', () => {
    expect(stripeHostOptions('http://127.0.0.1:12111')).to.deep.equal({ host: '127.0.0.1', port: 12111, protocol: 'http' });
    expect(stripeHostOptions('https://stripe.internal')).to.deep.equal({ host: 'stripe.internal', port: 443, protocol: 'https' });
    expect(() => stripeHostOptions('ftp://x')).to.throw(/http/);
  });

  it('authorizes a good card with a manual-capture PaymentIntent carrying our metadata and idempotency key', async () => {
    const request = authorizeRequest();
    const result = await stripe.authorize(request);
    expect(result.status).to.equal('authorized');
    const intent = fake.paymentIntents.get(result.providerRef!);
    expect(intent).to.include({ capture_method: 'manual', status: 'requires_capture', amount: 12_500, currency: 'eur', payment_method: 'pm_card_visa' });
    expect(intent.metadata).to.deep.equal({ bookingId: request.bookingId, bookingReference: 'ST-ABC123' });
    const sent = fake.requests.find((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.params.metadata?.bookingId === request.bookingId)!;
    expect(sent.headers['idempotency-key']).to.equal(request.idempotencyKey);
    expect(sent.params).to.include({ confirm: 'true', return_url: request.returnUrl });
    expect(await stripe.retrieve(result.providerRef!)).to.deep.equal({ state: 'authorized' });
  });

  it('turns card errors into declined results, not exceptions', async () => {
    const declined = await stripe.authorize(authorizeRequest({ paymentMethod: 'pm_card_chargeDeclined' }));
    expect(declined).to.include({ status: 'declined', code: 'card_declined', reason: 'Your card was declined.' });
    expect(declined.providerRef).to.match(/^pi_/);
    expect(await stripe.retrieve(declined.providerRef!)).to.deep.equal({ state: 'declined', reason: 'Your card was declined.' });

    const poor = await stripe.authorize(authorizeRequest({ paymentMethod: 'pm_card_insufficientFunds' }));
    expect(poor).to.include({ status: 'declined', code: 'insufficient_funds' });

    const unknown = await stripe.authorize(authorizeRequest({ paymentMethod: 'pm_nonsense' }));
    expect(unknown).to.include({ status: 'declined', code: 'invalid_payment_method', providerRef: null });
  });

  it('returns requires_action with the 3-D Secure redirect, then follows the customer\'s answer', async () => {
    const request = authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' });
    const result = await stripe.authorize(request);
    if (result.status !== 'requires_action') return expect.fail(`expected requires_action, got ${result.status}`);
    expect(result.actionUrl).to.equal(`${fake.url}/3ds/${result.providerRef}`);
    expect(await stripe.retrieve(result.providerRef)).to.deep.equal({ state: 'requires_action' });

    fake.completeAction(result.providerRef, 'authenticate');
    expect(await stripe.retrieve(result.providerRef)).to.deep.equal({ state: 'authorized' });

    const failing = await stripe.authorize(authorizeRequest({ paymentMethod: 'pm_card_authenticationRequired' }));
    fake.completeAction(failing.providerRef!, 'fail');
    const state = await stripe.retrieve(failing.providerRef!);
    expect(state.state).to.equal('declined');
    expect(state.reason).to.match(/failed authentication/);
  });

  it('charges exactly once when authorize is retried with the same key, even concurrently', async () => {
    const request = authorizeRequest();
    const first = await stripe.authorize(request);
    const again = await Promise.all([stripe.authorize(request), stripe.authorize(request)]);
    expect(again.map((r) => r.providerRef)).to.deep.equal([first.providerRef, first.providerRef]);
    expect(fake.chargesByKey.get(request.idempotencyKey)).to.equal(1);
    const forIntent = [...fake.paymentIntents.values()].filter((pi) => pi.metadata.bookingId === request.bookingId);
    expect(forIntent).to.have.length(1);
    expect(fake.requests.filter((r) => r.headers['idempotency-key'] === request.idempotencyKey && r.replayed)).to.have.length(2);

    // A different key is a different payment attempt.
    const second = await stripe.authorize({ ...request, idempotencyKey: `${request.idempotencyKey}-2` });
    expect(second.providerRef).to.not.equal(first.providerRef);
  });

  it('refuses a reused key with different parameters (Stripe idempotency_error)', async () => {
    const request = authorizeRequest();
    await stripe.authorize(request);
    const err = await refused(stripe.authorize({ ...request, amountMinor: request.amountMinor + 1 }));
    expect(err.message).to.match(/same parameters/);
    expect(fake.chargesByKey.get(request.idempotencyKey)).to.equal(1);
  });

  it('captures once per key, voids, refunds within what was captured', async () => {
    const auth = await stripe.authorize(authorizeRequest());
    const ref = auth.providerRef!;
    const capture = { idempotencyKey: `${ref}/capture`, providerRef: ref, amountMinor: 10_000, currency: 'EUR' };
    expect(await stripe.capture(capture)).to.deep.equal({ status: 'captured', providerRef: ref });
    expect(await stripe.capture(capture)).to.deep.equal({ status: 'captured', providerRef: ref }); // replayed, not a second capture
    expect(fake.paymentIntents.get(ref)).to.include({ status: 'succeeded', amount_received: 10_000 });
    expect(await stripe.retrieve(ref)).to.deep.equal({ state: 'captured' });
    const captureCalls = fake.requests.filter((r) => r.path === `/v1/payment_intents/${ref}/capture`);
    expect(captureCalls.map((r) => r.params.amount_to_capture)).to.deep.equal(['10000', '10000']);
    expect(captureCalls.map((r) => r.replayed)).to.deep.equal([false, true]);

    // A second capture under another key is a business refusal.
    const again = await refused(stripe.capture({ ...capture, idempotencyKey: `${ref}/capture-2` }));
    expect(again.code).to.equal('payment_intent_unexpected_state');

    const refund = { idempotencyKey: `${ref}/refund-1`, providerRef: ref, amountMinor: 4_000, currency: 'EUR', reason: 'customer cancelled' };
    const first = await stripe.refund(refund);
    expect(first.status).to.equal('succeeded');
    expect(first.refundRef).to.match(/^re_/);
    expect(await stripe.refund(refund)).to.deep.equal(first);
    expect([...fake.refunds.values()].filter((r) => r.payment_intent === ref)).to.have.length(1);
    expect(fake.refunds.get(first.refundRef)!.metadata).to.deep.equal({ reason: 'customer cancelled' });

    const tooMuch = await refused(stripe.refund({ ...refund, idempotencyKey: `${ref}/refund-2`, amountMinor: 6_001 }));
    expect(tooMuch.code).to.equal('amount_too_large');
    const rest = await stripe.refund({ ...refund, idempotencyKey: `${ref}/refund-3`, amountMinor: 6_000 });
    expect(rest.status).to.equal('succeeded');

    const other = await stripe.authorize(authorizeRequest());
    await stripe.void({ idempotencyKey: `${other.providerRef}/void`, providerRef: other.providerRef! });
    expect(fake.paymentIntents.get(other.providerRef!).status).to.equal('canceled');
    expect(await stripe.retrieve(other.providerRef!)).to.include({ state: 'voided' });
    // Voiding what is already canceled, under a new key, is not an error: nothing is held.
    await stripe.void({ idempotencyKey: `${other.providerRef}/void-again`, providerRef: other.providerRef! });
    const cannotCapture = await refused(stripe.capture({ idempotencyKey: `${other.providerRef}/capture`, providerRef: other.providerRef!, amountMinor: 1, currency: 'EUR' }));
    expect(cannotCapture.code).to.equal('payment_intent_unexpected_state');
  });

  it('sends an Idempotency-Key on every mutating call', async () => {
    const posts = fake.requests.filter((r) => r.method === 'POST');
    expect(posts.length).to.be.greaterThan(10);
    for (const post of posts) expect(post.headers['idempotency-key'], post.path).to.be.a('string').and.not.match(/^stripe-node-retry-/);
  });

  it('reports unknown PaymentIntents as unknown, and a bad key as an error to retry (not a refusal)', async () => {
    expect((await stripe.retrieve('pi_does_not_exist')).state).to.equal('unknown');
    const badKey = createStripeProvider({ secretKey: 'sk_live_wrong', apiBase: fake.url, maxNetworkRetries: 0 });
    try {
      await badKey.authorize(authorizeRequest());
      expect.fail('expected an authentication error');
    } catch (err) {
      expect(err).to.not.be.instanceOf(PaymentRefused);
      expect(err).to.be.instanceOf(Stripe.errors.StripeAuthenticationError);
    }
  });

  describe('webhooks', () => {
    function event(type: string, object: Record<string, unknown>) {
      return JSON.stringify({ id: `evt_${crypto.randomBytes(8).toString('hex')}`, object: 'event', type, api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), data: { object } });
    }
    const bookingId = crypto.randomUUID();
    const intent = { id: 'pi_123', object: 'payment_intent', metadata: { bookingId }, last_payment_error: null, cancellation_reason: null };

    it('our signing helper matches the SDK\'s verification', () => {
      const payload = event('payment_intent.succeeded', intent);
      const header = signStripeEvent(payload, WEBHOOK_SECRET);
      expect(Stripe.webhooks.constructEvent(payload, header, WEBHOOK_SECRET).type).to.equal('payment_intent.succeeded');
      expect(header).to.equal(Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp: Number(/t=(\d+)/.exec(header)![1]) }));
    });

    it('accepts correctly signed events and maps them', () => {
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['payment_intent.amount_capturable_updated', intent, 'payment.authorized'],
        ['payment_intent.payment_failed', { ...intent, last_payment_error: { code: 'card_declined', message: 'Your card was declined.' } }, 'payment.declined'],
        ['payment_intent.succeeded', intent, 'payment.captured'],
        ['payment_intent.canceled', { ...intent, cancellation_reason: 'abandoned' }, 'payment.canceled'],
        ['charge.refunded', { id: 'ch_1', object: 'charge', payment_intent: 'pi_123', metadata: { bookingId } }, 'payment.refunded'],
      ];
      for (const [type, object, mapped] of cases) {
        const payload = event(type, object);
        const parsed = parseStripeWebhook(Buffer.from(payload), signStripeEvent(payload, WEBHOOK_SECRET), WEBHOOK_SECRET);
        expect(parsed, type).to.deep.include({ provider: 'stripe', eventId: JSON.parse(payload).id, type: mapped, providerRef: 'pi_123', bookingId });
      }
      const failed = event('payment_intent.payment_failed', { ...intent, last_payment_error: { message: 'Your card was declined.' } });
      expect(parseStripeWebhook(Buffer.from(failed), signStripeEvent(failed, WEBHOOK_SECRET), WEBHOOK_SECRET)!.reason).to.equal('Your card was declined.');
      const noMetadata = event('payment_intent.succeeded', { ...intent, metadata: {} });
      expect(parseStripeWebhook(Buffer.from(noMetadata), signStripeEvent(noMetadata, WEBHOOK_SECRET), WEBHOOK_SECRET)!.bookingId).to.equal(null);
    });

    it('returns null for event types we do not act on', () => {
      const payload = event('customer.created', { id: 'cus_1', object: 'customer', metadata: {} });
      expect(parseStripeWebhook(Buffer.from(payload), signStripeEvent(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)).to.equal(null);
    });

    it('rejects a bad signature, a tampered body, a replay outside the tolerance and a missing header', () => {
      const payload = event('payment_intent.succeeded', intent);
      const rejects = (body: string, header: string | undefined, pattern: RegExp) => {
        expect(() => parseStripeWebhook(Buffer.from(body), header, WEBHOOK_SECRET)).to.throw(WebhookRejected, pattern);
      };
      rejects(payload, signStripeEvent(payload, 'whsec_someone_else'), /No signatures found matching/);
      rejects(payload.replace('pi_123', 'pi_999'), signStripeEvent(payload, WEBHOOK_SECRET), /No signatures found matching/);
      rejects(payload, signStripeEvent(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301), /tolerance/);
      rejects(payload, undefined, /Missing Stripe-Signature/);
      rejects(payload, 'garbage', /verification failed/);
      // Within a custom tolerance, an old signature is still accepted.
      const old = signStripeEvent(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301);
      expect(parseStripeWebhook(Buffer.from(payload), old, WEBHOOK_SECRET, 600)!.type).to.equal('payment.captured');
    });
  });
});
