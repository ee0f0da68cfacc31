/**
 * A local stand-in for the part of Stripe's REST API our adapter uses, speaking Stripe's wire
 * format so the real SDK can talk to it: form-encoded bodies with bracketed nested keys
 * (`metadata[bookingId]=...`), `Authorization: Bearer sk_test_...`, the `Idempotency-Key`
 * header (same key → the stored response, replayed; same key with other parameters → 400
 * idempotency_error), and Stripe's error envelope `{ error: { type, code, message, ... } }`.
 *
 * Test cards behave as in Stripe's test mode: pm_card_visa / pm_card_mastercard → requires_capture,
 * pm_card_chargeDeclined → 402 card_declined, pm_card_insufficientFunds → 402 card_declined with
 * decline_code insufficient_funds, pm_card_authenticationRequired → requires_action with a
 * redirect; any other payment method → 400 resource_missing.
 *
 * It records every request and counts charges (PaymentIntents actually created) per idempotency
 * key, so a test can assert that a retried authorize charged exactly once.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  params: Record<string, any>;
  replayed: boolean;
}

interface StoredResponse { fingerprint: string; status: number; body: unknown }

export interface FakeStripe {
  /** e.g. http://127.0.0.1:54321, for the adapter's apiBase. */
  url: string;
  requests: RecordedRequest[];
  /** PaymentIntents actually created (not replayed), per Idempotency-Key. */
  chargesByKey: Map<string, number>;
  paymentIntents: Map<string, any>;
  refunds: Map<string, any>;
  /**
   * Holds the answer to the next request matching `method` and `path` (a RegExp): the request is
   * carried out (and its result stored for its Idempotency-Key), but the answer waits until
   * `release()`; `arrived` resolves when such a request was carried out. For tests that kill the
   * caller while Stripe has acted and the answer is still on its way.
   */
  holdNext(method: string, path: RegExp): { arrived: Promise<RecordedRequest>; release(): void };
  /** Simulates the customer finishing (or failing) 3-D Secure on Stripe's page. */
  completeAction(paymentIntentId: string, outcome: 'authenticate' | 'fail'): any;
  close(): Promise<void>;
}

/** Parses Stripe's form encoding, `a[b][c]=v` and `a[0]=v`, into nested objects. */
export function parseStripeForm(body: string): Record<string, any> {
  const result: Record<string, any> = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    if (!match) throw new Error(`bad form key ${rawKey}`);
    const path = [match[1], ...[...match[2].matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1])];
    let node = result;
    for (let i = 0; i < path.length - 1; i++) node = node[path[i]] ??= {};
    node[path[path.length - 1]] = value;
  }
  return result;
}

/** A `Stripe-Signature` header for `payload`, by Stripe's documented scheme (written here, not by the SDK). */
export function signStripeEvent(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const signature = crypto.createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

class StripeHttpError extends Error {
  constructor(readonly status: number, readonly error: Record<string, unknown>) {
    super(String(error.message));
  }
}

const CAPTURABLE = ['requires_capture'];
const CANCELABLE = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'];

function id(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(12).toString('hex')}`;
}

function positiveInt(value: unknown, param: string): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n <= 0) {
    throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'parameter_invalid_integer', param, message: `Invalid positive integer: ${param}` });
  }
  return n;
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: RecordedRequest[] = [];
  const idempotency = new Map<string, StoredResponse>();
  const chargesByKey = new Map<string, number>();
  const paymentIntents = new Map<string, any>();
  const refunds = new Map<string, any>();
  const holds: Array<{ method: string; path: RegExp; arrive: (r: RecordedRequest) => void; released: Promise<void> }> = [];
  let url = '';

  function unexpectedState(intent: any, action: string): StripeHttpError {
    return new StripeHttpError(400, {
      type: 'invalid_request_error', code: 'payment_intent_unexpected_state',
      message: `This PaymentIntent's ${action} could not be performed because it has a status of ${intent.status}.`,
      payment_intent: intent,
    });
  }

  function findIntent(intentId: string): any {
    const intent = paymentIntents.get(intentId);
    if (!intent) throw new StripeHttpError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'intent', message: `No such payment_intent: '${intentId}'` });
    return intent;
  }

  function createPaymentIntent(params: Record<string, any>, key: string | undefined): any {
    const amount = positiveInt(params.amount, 'amount');
    if (!params.currency) throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'parameter_missing', param: 'currency', message: 'Missing required param: currency.' });
    const method = params.payment_method;
    const known = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_chargeDeclined', 'pm_card_insufficientFunds', 'pm_card_authenticationRequired'];
    if (!known.includes(method)) {
      throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'resource_missing', param: 'payment_method', message: `No such PaymentMethod: '${method}'` });
    }
    if (params.confirm === 'true' && !params.return_url) {
      throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'parameter_missing', param: 'return_url', message: 'return_url is required when confirm=true' });
    }
    const intent: any = {
      id: id('pi'), object: 'payment_intent', amount, amount_capturable: 0, amount_received: 0,
      currency: params.currency, capture_method: params.capture_method ?? 'automatic_async',
      confirmation_method: 'automatic', description: params.description ?? null, metadata: params.metadata ?? {},
      payment_method: method, status: 'requires_confirmation', next_action: null, last_payment_error: null,
      cancellation_reason: null, latest_charge: null, client_secret: `${id('pi')}_secret`, created: Math.floor(Date.now() / 1000),
      livemode: false, return_url: params.return_url ?? null,
    };
    paymentIntents.set(intent.id, intent);
    if (key) chargesByKey.set(key, (chargesByKey.get(key) ?? 0) + 1);
    if (params.confirm !== 'true') return intent;

    if (method === 'pm_card_chargeDeclined' || method === 'pm_card_insufficientFunds') {
      const declineCode = method === 'pm_card_chargeDeclined' ? 'generic_decline' : 'insufficient_funds';
      const message = method === 'pm_card_chargeDeclined' ? 'Your card was declined.' : 'Your card has insufficient funds.';
      const error = { type: 'card_error', code: 'card_declined', decline_code: declineCode, message };
      Object.assign(intent, { status: 'requires_payment_method', last_payment_error: error });
      throw new StripeHttpError(402, { ...error, charge: id('ch'), payment_intent: intent });
    }
    if (method === 'pm_card_authenticationRequired') {
      Object.assign(intent, {
        status: 'requires_action',
        next_action: { type: 'redirect_to_url', redirect_to_url: { url: `${url}/3ds/${intent.id}`, return_url: intent.return_url } },
      });
      return intent;
    }
    return authorized(intent);
  }

  function authorized(intent: any): any {
    if (intent.capture_method === 'manual') Object.assign(intent, { status: 'requires_capture', amount_capturable: intent.amount, next_action: null });
    else Object.assign(intent, { status: 'succeeded', amount_received: intent.amount, latest_charge: id('ch'), next_action: null });
    return intent;
  }

  function route(method: string, path: string, params: Record<string, any>, key: string | undefined): { status: number; body: unknown } {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/v1/payment_intents') return { status: 200, body: createPaymentIntent(params, key) };
    if (method === 'GET' && (m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path))) return { status: 200, body: findIntent(m[1]) };
    if (method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/capture$/.exec(path))) {
      const intent = findIntent(m[1]);
      if (!CAPTURABLE.includes(intent.status)) throw unexpectedState(intent, 'capture');
      const amount = params.amount_to_capture === undefined ? intent.amount_capturable : positiveInt(params.amount_to_capture, 'amount_to_capture');
      if (amount > intent.amount_capturable) {
        throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount_to_capture', message: `amount_to_capture (${amount}) is more than the capturable amount (${intent.amount_capturable})`, payment_intent: intent });
      }
      Object.assign(intent, { status: 'succeeded', amount_received: amount, amount_capturable: 0, latest_charge: id('ch') });
      return { status: 200, body: intent };
    }
    if (method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/cancel$/.exec(path))) {
      const intent = findIntent(m[1]);
      if (!CANCELABLE.includes(intent.status)) throw unexpectedState(intent, 'cancel');
      Object.assign(intent, { status: 'canceled', amount_capturable: 0, cancellation_reason: params.cancellation_reason ?? 'requested_by_customer', next_action: null });
      return { status: 200, body: intent };
    }
    if (method === 'POST' && path === '/v1/refunds') {
      const intent = findIntent(params.payment_intent);
      if (intent.status !== 'succeeded') {
        throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'charge_not_refundable', message: `PaymentIntent ${intent.id} has no successful charge to refund (status ${intent.status}).` });
      }
      const refunded = [...refunds.values()].filter((r) => r.payment_intent === intent.id).reduce((sum, r) => sum + r.amount, 0);
      const amount = params.amount === undefined ? intent.amount_received - refunded : positiveInt(params.amount, 'amount');
      if (refunded + amount > intent.amount_received) {
        throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount', message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${intent.amount_received - refunded})` });
      }
      const refund = {
        id: id('re'), object: 'refund', amount, currency: intent.currency, payment_intent: intent.id, charge: intent.latest_charge,
        status: 'succeeded', reason: params.reason ?? null, metadata: params.metadata ?? {}, created: Math.floor(Date.now() / 1000),
      };
      refunds.set(refund.id, refund);
      return { status: 200, body: refund };
    }
    throw new StripeHttpError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const [path] = (req.url ?? '/').split('?');
      const method = req.method ?? 'GET';
      const key = req.headers['idempotency-key'] as string | undefined;
      const send = (status: number, body: unknown, replayed = false) => {
        res.writeHead(status, {
          'content-type': 'application/json', 'request-id': id('req'),
          ...(key && method === 'POST' ? { 'idempotency-key': key } : {}),
          ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        });
        res.end(JSON.stringify(body));
      };

      let params: Record<string, any> = {};
      try {
        params = raw ? parseStripeForm(raw) : {};
      } catch (err) {
        send(400, { error: { type: 'invalid_request_error', message: (err as Error).message } });
        return;
      }
      const record: RecordedRequest = { method, path, headers: req.headers, params, replayed: false };
      requests.push(record);

      const auth = req.headers.authorization ?? '';
      if (!/^Bearer sk_test_\w+$/.test(auth)) {
        send(401, { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${auth.replace(/^Bearer /, '').slice(0, 12)}***` } });
        return;
      }
      if (method === 'POST' && req.headers['content-type'] !== 'application/x-www-form-urlencoded') {
        send(400, { error: { type: 'invalid_request_error', message: `Invalid Content-Type ${req.headers['content-type']}` } });
        return;
      }

      const fingerprint = `${method} ${path} ${[...new URLSearchParams(raw)].map(([k, v]) => `${k}=${v}`).sort().join('&')}`;
      if (key && method === 'POST') {
        const stored = idempotency.get(key);
        if (stored) {
          if (stored.fingerprint !== fingerprint) {
            send(400, { error: { type: 'idempotency_error', message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.` } });
            return;
          }
          record.replayed = true;
          send(stored.status, stored.body, true);
          return;
        }
      }
      let status: number;
      let body: unknown;
      try {
        ({ status, body } = route(method, path, params, key));
      } catch (err) {
        if (!(err instanceof StripeHttpError)) throw err;
        status = err.status;
        body = { error: err.error };
      }
      // Stripe stores the first result for the key, errors included (so a declined charge stays declined).
      body = JSON.parse(JSON.stringify(body));
      if (key && method === 'POST') idempotency.set(key, { fingerprint, status, body });
      const held = holds.findIndex((h) => h.method === method && h.path.test(path));
      if (held >= 0) {
        const [h] = holds.splice(held, 1);
        h.arrive(record);
        void h.released.then(() => { if (!res.destroyed) send(status, body); });
        return;
      }
      send(status, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url, requests, chargesByKey, paymentIntents, refunds,
    holdNext(method, path) {
      let arrive!: (r: RecordedRequest) => void;
      let release!: () => void;
      const arrived = new Promise<RecordedRequest>((resolve) => (arrive = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      holds.push({ method, path, arrive, released });
      return { arrived, release };
    },
    completeAction(paymentIntentId, outcome) {
      const intent = findIntent(paymentIntentId);
      if (intent.status !== 'requires_action') return intent;
      if (outcome === 'authenticate') return authorized(intent);
      return Object.assign(intent, {
        status: 'requires_payment_method', next_action: null,
        last_payment_error: { type: 'card_error', code: 'payment_intent_authentication_failure', message: 'The provided PaymentMethod has failed authentication.' },
      });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
