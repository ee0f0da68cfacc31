/**
 * The PayPal adapter, on the real SDK, against a small fake PayPal (test/support/fake-paypal.ts) reached through
 * PAYPAL_API_BASE: OAuth client-credentials tokens, Orders v2, Payments v2 and
 * verify-webhook-signature, with PayPal-Request-Id idempotency.
 */
import crypto from 'node:crypto';
import { expect } from 'chai';
import { createPayPalApi, createPayPalProvider, toPayPalValue, verifyPayPalWebhook, type PayPalApi } from '../../integrations/payments/paypal';
import { PaymentRefused, WebhookRejected, type AuthorizeRequest, type PaymentProvider } from '../../integrations/payments/types';
import { CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, startFakePayPal, type FakePayPal } from '../support/fake-paypal';

function authorizeRequest(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  const bookingId = crypto.randomUUID();
  return {
    idempotencyKey: `booking-${bookingId}/pay-1/authorize`,
    amountMinor: 34_950,
    currency: 'EUR',
    paymentMethod: 'paypal',
    bookingId,
    bookingReference: 'ST-PP0001',
    description: 'Sevilla & Córdoba, 3 days',
    returnUrl: 'http://localhost:3000/bookings/return',
    ...overrides,
  };
}

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect(err, (err as Error).message).to.be.instanceOf(PaymentRefused);
    expect((err as PaymentRefused).code).to.equal(code);
    return;
  }
  expect.fail(`expected PaymentRefused ${code}`);
}

describe('PayPal provider (real SDK against a local fake PayPal)', () => {
  let fake: FakePayPal;
  let api: PayPalApi;
  let paypal: PaymentProvider;

  before(async () => {
    fake = await startFakePayPal();
    api = createPayPalApi({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: fake.url });
    paypal = createPayPalProvider({ api });
  });
  after(() => fake.close());

  it('formats amounts in PayPal\'s decimal strings', () => {
    expect(toPayPalValue(34_950, 'EUR')).to.equal('349.50');
    expect(toPayPalValue(5, 'usd')).to.equal('0.05');
    expect(toPayPalValue(1200, 'JPY')).to.equal('1200');
    expect(toPayPalValue(1200, 'HUF')).to.equal('1200');
  });

  it('creates an AUTHORIZE order and sends the payer to PayPal, once per idempotency key', async () => {
    const request = authorizeRequest();
    const results = await Promise.all([paypal.authorize(request), paypal.authorize(request)]);
    const again = await paypal.authorize(request);
    const first = results[0];
    if (first.status !== 'requires_action') return expect.fail(`expected requires_action, got ${first.status}`);
    expect(first.actionUrl).to.equal(`${fake.url}/checkoutnow?token=${first.providerRef}`);
    expect(results[1]).to.deep.equal(first);
    expect(again).to.deep.equal(first);
    expect(fake.ordersByRequestId.get(request.idempotencyKey)).to.equal(1);

    const created = fake.requests.find((r) => r.path === '/v2/checkout/orders' && !r.replayed && r.body.purchase_units?.[0]?.custom_id === request.bookingId)!;
    expect(created.headers['paypal-request-id']).to.equal(request.idempotencyKey);
    expect(created.body.intent).to.equal('AUTHORIZE');
    expect(created.body.purchase_units[0]).to.deep.include({ reference_id: 'ST-PP0001', amount: { currency_code: 'EUR', value: '349.50' } });
    expect(created.body.payment_source.paypal.experience_context.return_url).to.equal(request.returnUrl);
    expect(await paypal.retrieve(first.providerRef)).to.deep.equal({ state: 'requires_action' });
  });

  it('authorizes the approved order when asked where it stands, then captures, refunds and refuses too much', async () => {
    const { providerRef: orderId } = await paypal.authorize(authorizeRequest());
    fake.approve(orderId!);
    const [a, b] = await Promise.all([paypal.retrieve(orderId!), paypal.retrieve(orderId!)]);
    expect([a, b]).to.deep.equal([{ state: 'authorized' }, { state: 'authorized' }]);
    const authorizeCalls = fake.requests.filter((r) => r.path === `/v2/checkout/orders/${orderId}/authorize`);
    expect(authorizeCalls.filter((r) => !r.replayed)).to.have.length(1);
    expect(fake.orders.get(orderId!).purchase_units[0].payments.authorizations).to.have.length(1);

    const capture = { idempotencyKey: `${orderId}/capture`, providerRef: orderId!, amountMinor: 30_000, currency: 'EUR' };
    expect(await paypal.capture(capture)).to.deep.equal({ status: 'captured', providerRef: orderId });
    expect(await paypal.capture(capture)).to.deep.equal({ status: 'captured', providerRef: orderId });
    expect(fake.orders.get(orderId!).purchase_units[0].payments.captures).to.have.length(1);
    expect(fake.orders.get(orderId!).purchase_units[0].payments.captures[0].amount).to.deep.equal({ currency_code: 'EUR', value: '300.00' });
    expect(await paypal.retrieve(orderId!)).to.deep.equal({ state: 'captured' });
    await refused(paypal.capture({ ...capture, idempotencyKey: `${orderId}/capture-2` }), 'AUTHORIZATION_ALREADY_CAPTURED');

    const refund = { idempotencyKey: `${orderId}/refund-1`, providerRef: orderId!, amountMinor: 10_000, currency: 'EUR', reason: 'one traveller cancelled' };
    const first = await paypal.refund(refund);
    expect(first.status).to.equal('succeeded');
    expect(await paypal.refund(refund)).to.deep.equal(first);
    await refused(paypal.refund({ ...refund, idempotencyKey: `${orderId}/refund-2`, amountMinor: 20_001 }), 'REFUND_AMOUNT_EXCEEDED');
    expect((await paypal.refund({ ...refund, idempotencyKey: `${orderId}/refund-3`, amountMinor: 20_000 })).status).to.equal('succeeded');
    const refundCall = fake.requests.find((r) => r.path.endsWith('/refund') && r.headers['paypal-request-id'] === refund.idempotencyKey)!;
    expect(refundCall.body).to.deep.include({ note_to_payer: 'one traveller cancelled', custom_id: fake.orders.get(orderId!).purchase_units[0].custom_id });
  });

  it('voids an authorization, and treats voiding an order never approved as nothing to do', async () => {
    const { providerRef: orderId } = await paypal.authorize(authorizeRequest());
    fake.approve(orderId!);
    await paypal.void({ idempotencyKey: `${orderId}/void`, providerRef: orderId! });
    expect(await paypal.retrieve(orderId!)).to.deep.equal({ state: 'voided' });
    await paypal.void({ idempotencyKey: `${orderId}/void-again`, providerRef: orderId! });
    await refused(paypal.capture({ idempotencyKey: `${orderId}/capture`, providerRef: orderId!, amountMinor: 100, currency: 'EUR' }), 'AUTHORIZATION_VOIDED');

    const { providerRef: abandoned } = await paypal.authorize(authorizeRequest());
    await paypal.void({ idempotencyKey: `${abandoned}/void`, providerRef: abandoned! });
    await refused(paypal.capture({ idempotencyKey: `${abandoned}/capture`, providerRef: abandoned!, amountMinor: 100, currency: 'EUR' }), 'payment_unexpected_state');
  });

  it('reports a failed authorization as declined and an unknown order as unknown', async () => {
    const { providerRef: orderId } = await paypal.authorize(authorizeRequest());
    fake.approve(orderId!, true);
    const state = await paypal.retrieve(orderId!);
    expect(state.state).to.equal('declined');
    expect(state.reason).to.match(/INSTRUMENT_DECLINED/);
    expect((await paypal.retrieve('NOSUCHORDER')).state).to.equal('unknown');
  });

  it('fetches one OAuth token and reuses it; wrong credentials are an error to fix, not a refusal', async () => {
    expect(fake.tokensIssued).to.equal(1);
    const wrong = createPayPalProvider({ clientId: CLIENT_ID, clientSecret: 'nope', baseUrl: fake.url });
    try {
      await wrong.authorize(authorizeRequest());
      expect.fail('expected an authentication error');
    } catch (err) {
      expect(err).to.not.be.instanceOf(PaymentRefused);
      expect((err as Error).message).to.match(/PayPal answered 401.*Client Authentication failed/);
    }
  });

  describe('webhooks', () => {
    const bookingId = crypto.randomUUID();
    const event = (type: string, resource: Record<string, unknown>) => JSON.stringify({
      id: `WH-${crypto.randomBytes(6).toString('hex')}`, event_version: '1.0', event_type: type, resource_type: 'capture', summary: type, resource, create_time: new Date().toISOString(),
    });

    it('verifies with PayPal and maps payment events to the order and booking', async () => {
      const body = event('PAYMENT.CAPTURE.COMPLETED', { id: 'CAP1', status: 'COMPLETED', custom_id: bookingId, supplementary_data: { related_ids: { order_id: 'ORDER1', authorization_id: 'AUTH1' } } });
      const parsed = await verifyPayPalWebhook(api, WEBHOOK_ID, fake.signWebhook(body), Buffer.from(body));
      expect(parsed).to.deep.equal({ provider: 'paypal', eventId: JSON.parse(body).id, type: 'payment.captured', providerRef: 'ORDER1', bookingId });
      const verify = fake.requests.filter((r) => r.path === '/v1/notifications/verify-webhook-signature').pop()!;
      expect(verify.body.webhook_event).to.deep.equal(JSON.parse(body));
      expect(verify.body.webhook_id).to.equal(WEBHOOK_ID);

      const authorized = event('PAYMENT.AUTHORIZATION.CREATED', { id: 'AUTH1', status: 'CREATED', custom_id: bookingId, supplementary_data: { related_ids: { order_id: 'ORDER1' } } });
      expect((await verifyPayPalWebhook(api, WEBHOOK_ID, fake.signWebhook(authorized), authorized))!.type).to.equal('payment.authorized');
      const ignored = event('CHECKOUT.ORDER.APPROVED', { id: 'ORDER1', status: 'APPROVED' });
      expect(await verifyPayPalWebhook(api, WEBHOOK_ID, fake.signWebhook(ignored), ignored)).to.equal(null);
    });

    it('rejects a tampered body, a forged signature, another webhook id and missing headers', async () => {
      const body = event('PAYMENT.CAPTURE.COMPLETED', { id: 'CAP1', custom_id: bookingId, supplementary_data: { related_ids: { order_id: 'ORDER1' } } });
      const headers = fake.signWebhook(body);
      const rejects = async (promise: Promise<unknown>, pattern: RegExp) => {
        try {
          await promise;
        } catch (err) {
          expect(err).to.be.instanceOf(WebhookRejected);
          expect((err as Error).message).to.match(pattern);
          return;
        }
        expect.fail('expected WebhookRejected');
      };
      await rejects(verifyPayPalWebhook(api, WEBHOOK_ID, headers, body.replace('ORDER1', 'ORDER2')), /verification failed/);
      await rejects(verifyPayPalWebhook(api, WEBHOOK_ID, { ...headers, 'paypal-transmission-sig': 'AAAA' }, body), /verification failed/);
      await rejects(verifyPayPalWebhook(api, 'WH-OTHER', headers, body), /verification failed/);
      await rejects(verifyPayPalWebhook(api, WEBHOOK_ID, { ...headers, 'paypal-transmission-id': undefined as unknown as string }, body), /Missing paypal-transmission-id/);
      await rejects(verifyPayPalWebhook(api, WEBHOOK_ID, headers, 'not json'), /not JSON/);
    });
  });
});
