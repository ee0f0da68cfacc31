/**
 * The PayPal adapter, on the real SDK, against a small fake PayPal (below) reached through
 * PAYPAL_API_BASE: OAuth client-credentials tokens, Orders v2, Payments v2 and
 * verify-webhook-signature, with PayPal-Request-Id idempotency.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createPayPalApi, createPayPalProvider, toPayPalValue, verifyPayPalWebhook, type PayPalApi } from '../../integrations/payments/paypal';
import { PaymentRefused, WebhookRejected, type AuthorizeRequest, type PaymentProvider } from '../../integrations/payments/types';

const CLIENT_ID = 'client-id-test';
const CLIENT_SECRET = 'client-secret-test';
const WEBHOOK_ID = 'WH-TEST-1';

interface FakePayPal {
  url: string;
  requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; body: any; replayed: boolean }>;
  ordersByRequestId: Map<string, number>;
  orders: Map<string, any>;
  tokensIssued: number;
  /** The payer approves on PayPal's page; `fundingFails` makes the later authorization fail like INSTRUMENT_DECLINED. */
  approve(orderId: string, fundingFails?: boolean): void;
  /** Headers PayPal would send with this webhook body. */
  signWebhook(body: string): Record<string, string>;
  close(): Promise<void>;
}

async function startFakePayPal(): Promise<FakePayPal> {
  const requests: FakePayPal['requests'] = [];
  const ordersByRequestId = new Map<string, number>();
  const orders = new Map<string, any>();
  const authorizations = new Map<string, { orderId: string; auth: any }>();
  const captures = new Map<string, { orderId: string; capture: any }>();
  const refunds = new Map<string, any>();
  const idempotent = new Map<string, { status: number; body: unknown }>();
  const tokens = new Set<string>();
  const failingFunding = new Set<string>();
  const signingKey = crypto.randomBytes(32);
  let tokensIssued = 0;
  let url = '';

  const id = (n = 17) => crypto.randomBytes(n).toString('hex').slice(0, n).toUpperCase();
  class Problem extends Error {
    constructor(readonly status: number, override readonly name: string, readonly issue?: string) { super(issue ?? name); }
  }
  const minor = (value: string) => Math.round(Number(value) * 100);
  const sign = (transmissionId: string, time: string, body: string) =>
    crypto.createHmac('sha256', signingKey).update(`${transmissionId}|${time}|${WEBHOOK_ID}|${crypto.createHash('sha256').update(body).digest('hex')}`).digest('base64');

  function route(method: string, path: string, body: any): { status: number; body: unknown } {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/v2/checkout/orders') {
      if (body.intent !== 'AUTHORIZE' && body.intent !== 'CAPTURE') throw new Problem(400, 'INVALID_REQUEST', 'INVALID_PARAMETER_VALUE');
      const unit = body.purchase_units?.[0];
      if (!unit?.amount?.currency_code || !/^\d+(\.\d{2})?$/.test(unit.amount.value ?? '')) throw new Problem(400, 'INVALID_REQUEST', 'INVALID_PARAMETER_SYNTAX');
      const orderId = id();
      const withSource = Boolean(body.payment_source?.paypal);
      const order = {
        id: orderId, intent: body.intent, status: withSource ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
        purchase_units: [{ reference_id: unit.reference_id, custom_id: unit.custom_id, description: unit.description, amount: unit.amount }],
        payment_source: withSource ? { paypal: {} } : undefined,
        create_time: new Date().toISOString(),
        links: [
          { href: `${url}/v2/checkout/orders/${orderId}`, rel: 'self', method: 'GET' },
          { href: `${url}/checkoutnow?token=${orderId}`, rel: withSource ? 'payer-action' : 'approve', method: 'GET' },
        ],
        return_url: body.payment_source?.paypal?.experience_context?.return_url,
      };
      orders.set(orderId, order);
      return { status: 201, body: order };
    }
    if (method === 'GET' && (m = /^\/v2\/checkout\/orders\/([^/]+)$/.exec(path))) {
      const order = orders.get(m[1]);
      if (!order) throw new Problem(404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID');
      return { status: 200, body: order };
    }
    if (method === 'POST' && (m = /^\/v2\/checkout\/orders\/([^/]+)\/authorize$/.exec(path))) {
      const order = orders.get(m[1]);
      if (!order) throw new Problem(404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID');
      if (order.status !== 'APPROVED') throw new Problem(422, 'UNPROCESSABLE_ENTITY', order.status === 'COMPLETED' ? 'ORDER_ALREADY_AUTHORIZED' : 'ORDER_NOT_APPROVED');
      if (failingFunding.has(order.id)) throw new Problem(422, 'UNPROCESSABLE_ENTITY', 'INSTRUMENT_DECLINED');
      const unit = order.purchase_units[0];
      const auth = {
        id: id(), status: 'CREATED', amount: unit.amount, custom_id: unit.custom_id,
        supplementary_data: { related_ids: { order_id: order.id } },
        links: [{ href: `${url}/v2/payments/authorizations/x`, rel: 'self', method: 'GET' }],
      };
      unit.payments = { authorizations: [auth], captures: [] };
      order.status = 'COMPLETED';
      authorizations.set(auth.id, { orderId: order.id, auth });
      return { status: 201, body: order };
    }
    if (method === 'POST' && (m = /^\/v2\/payments\/authorizations\/([^/]+)\/capture$/.exec(path))) {
      const found = authorizations.get(m[1]);
      if (!found) throw new Problem(404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID');
      if (found.auth.status !== 'CREATED') throw new Problem(422, 'UNPROCESSABLE_ENTITY', found.auth.status === 'VOIDED' ? 'AUTHORIZATION_VOIDED' : 'AUTHORIZATION_ALREADY_CAPTURED');
      const amount = body.amount ?? found.auth.amount;
      if (amount.currency_code !== found.auth.amount.currency_code) throw new Problem(422, 'UNPROCESSABLE_ENTITY', 'CURRENCY_MISMATCH');
      if (minor(amount.value) > minor(found.auth.amount.value)) throw new Problem(422, 'UNPROCESSABLE_ENTITY', 'MAX_CAPTURE_AMOUNT_EXCEEDED');
      const capture = { id: id(), status: 'COMPLETED', amount, final_capture: body.final_capture ?? false, custom_id: found.auth.custom_id };
      found.auth.status = 'CAPTURED';
      orders.get(found.orderId).purchase_units[0].payments.captures.push(capture);
      captures.set(capture.id, { orderId: found.orderId, capture });
      return { status: 201, body: capture };
    }
    if (method === 'POST' && (m = /^\/v2\/payments\/authorizations\/([^/]+)\/void$/.exec(path))) {
      const found = authorizations.get(m[1]);
      if (!found) throw new Problem(404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID');
      if (found.auth.status !== 'CREATED') throw new Problem(422, 'UNPROCESSABLE_ENTITY', 'PREVIOUSLY_CAPTURED');
      found.auth.status = 'VOIDED';
      return { status: 200, body: found.auth };
    }
    if (method === 'POST' && (m = /^\/v2\/payments\/captures\/([^/]+)\/refund$/.exec(path))) {
      const found = captures.get(m[1]);
      if (!found) throw new Problem(404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID');
      const already = [...refunds.values()].filter((r) => r.capture_id === found.capture.id).reduce((sum, r) => sum + minor(r.amount.value), 0);
      if (already + minor(body.amount.value) > minor(found.capture.amount.value)) throw new Problem(422, 'UNPROCESSABLE_ENTITY', 'REFUND_AMOUNT_EXCEEDED');
      const refund = { id: id(), status: 'COMPLETED', amount: body.amount, custom_id: body.custom_id, note_to_payer: body.note_to_payer, capture_id: found.capture.id };
      refunds.set(refund.id, refund);
      return { status: 201, body: refund };
    }
    if (method === 'POST' && path === '/v1/notifications/verify-webhook-signature') {
      const ok = body.webhook_id === WEBHOOK_ID && body.auth_algo === 'SHA256withRSA'
        && body.transmission_sig === sign(body.transmission_id, body.transmission_time, JSON.stringify(body.webhook_event));
      return { status: 200, body: { verification_status: ok ? 'SUCCESS' : 'FAILURE' } };
    }
    throw new Problem(404, 'NOT_FOUND');
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const method = req.method ?? 'GET';
      const path = (req.url ?? '/').split('?')[0];
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'paypal-debug-id': id(8) });
        res.end(JSON.stringify(body));
      };
      let body: any = {};
      const record = { method, path, headers: req.headers, body, replayed: false };
      requests.push(record);

      if (path === '/v1/oauth2/token') {
        const expected = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
        if (req.headers.authorization !== expected) return send(401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
        if (new URLSearchParams(raw).get('grant_type') !== 'client_credentials') return send(400, { error: 'unsupported_grant_type' });
        const token = `A21AA${id(24)}`;
        tokens.add(token);
        tokensIssued++;
        return send(200, { scope: 'https://uri.paypal.com/services/payments/payment', access_token: token, token_type: 'Bearer', app_id: 'APP-TEST', expires_in: 32400, nonce: id() });
      }
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !tokens.has(bearer)) return send(401, { name: 'AUTHENTICATION_FAILURE', message: 'Authentication failed due to invalid authentication credentials or a missing Authorization header.', debug_id: id(8) });
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        return send(400, { name: 'INVALID_REQUEST', message: 'Request is not well-formed', debug_id: id(8), details: [{ issue: 'MALFORMED_REQUEST_JSON' }] });
      }
      record.body = body;

      const requestId = req.headers['paypal-request-id'] as string | undefined;
      const scope = `${method} ${path} ${requestId}`;
      if (method === 'POST' && requestId && idempotent.has(scope)) {
        record.replayed = true;
        const stored = idempotent.get(scope)!;
        return send(stored.status === 201 ? 200 : stored.status, stored.body);
      }
      let result: { status: number; body: unknown };
      try {
        result = route(method, path, body);
        if (method === 'POST' && path === '/v2/checkout/orders' && requestId) ordersByRequestId.set(requestId, (ordersByRequestId.get(requestId) ?? 0) + 1);
      } catch (err) {
        if (!(err instanceof Problem)) throw err;
        result = { status: err.status, body: { name: err.name, message: `The requested action could not be performed (${err.issue ?? err.name}).`, debug_id: id(8), details: err.issue ? [{ issue: err.issue, description: `Issue ${err.issue}` }] : [] } };
      }
      result = { status: result.status, body: JSON.parse(JSON.stringify(result.body)) };
      if (method === 'POST' && requestId && result.status < 500) idempotent.set(scope, result);
      send(result.status, result.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url, requests, ordersByRequestId, orders,
    get tokensIssued() { return tokensIssued; },
    approve(orderId, fundingFails = false) {
      const order = orders.get(orderId);
      order.status = 'APPROVED';
      if (fundingFails) failingFunding.add(orderId);
    },
    signWebhook(body) {
      const transmissionId = crypto.randomUUID();
      const time = new Date().toISOString();
      return {
        'paypal-auth-algo': 'SHA256withRSA',
        'paypal-cert-url': `${url}/v1/notifications/certs/CERT-TEST`,
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-sig': sign(transmissionId, time, JSON.stringify(JSON.parse(body))),
        'paypal-transmission-time': time,
      };
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

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
