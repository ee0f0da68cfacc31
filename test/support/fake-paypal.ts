/**
 * A small fake PayPal speaking the REST API our adapter and the real SDK use: OAuth
 * client-credentials tokens, Orders v2 (create, get, authorize), Payments v2 (capture, void,
 * refund), verify-webhook-signature, and PayPal-Request-Id idempotency (a repeated POST gets the
 * stored answer). The payer's approval on PayPal's page is `approve(orderId)`; `signWebhook` gives
 * the headers PayPal would send with a webhook body, which only this fake's verify call accepts.
 * Used by the adapter's own tests and by the test stack (PAYPAL_API_BASE, PAYPAL_WEBHOOK_ID).
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const CLIENT_ID = 'client-id-test';
export const CLIENT_SECRET = 'client-secret-test';
export const WEBHOOK_ID = 'WH-TEST-1';

export interface FakePayPal {
  url: string;
  requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; body: any; replayed: boolean }>;
  ordersByRequestId: Map<string, number>;
  orders: Map<string, any>;
  /** Refunds made, by refund id (each with its capture_id and amount). */
  refunds: Map<string, any>;
  tokensIssued: number;
  /** The payer approves on PayPal's page; `fundingFails` makes the later authorization fail like INSTRUMENT_DECLINED. */
  approve(orderId: string, fundingFails?: boolean): void;
  /** Headers PayPal would send with this webhook body. */
  signWebhook(body: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startFakePayPal(): Promise<FakePayPal> {
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
    url, requests, ordersByRequestId, orders, refunds,
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
