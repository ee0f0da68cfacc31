/**
 * PayPal, through the official server SDK (Orders v2 + Payments v2):
 *
 *   authorize → createOrder (intent AUTHORIZE, PayPal-Request-Id = our key) → requires_action,
 *               the payer approves on PayPal (the payer-action / approve link)
 *   retrieve  → getOrder; an APPROVED order is authorized here (authorizeOrder, with a request id
 *               derived from the order, so repeating it is harmless), because PayPal only holds
 *               the money once the merchant authorizes the approved order
 *   capture   → captureAuthorizedPayment on the order's authorization (final capture)
 *   void      → voidPayment on the order's authorization
 *   refund    → refundCapturedPayment on the order's capture
 *
 * providerRef is always the order id, as for the other providers; the authorization and capture
 * ids are looked up from the order. The payment method in AuthorizeRequest is not used: the payer
 * chooses how to pay on PayPal's page.
 *
 * The SDK only knows PayPal's two hosts. For a local test server (PAYPAL_API_BASE) every request
 * URL is rewritten, through the SDK's public request interceptors, to the given base.
 */
import {
  ApiError, CheckoutPaymentIntent, Client, ClientCredentialsAuthManager, Environment, OrdersController, PaymentsController,
  PaypalExperienceUserAction, type LinkDescription, type OAuthToken, type Order,
} from '@paypal/paypal-server-sdk';
import {
  PaymentRefused, WebhookRejected,
  type AuthorizeRequest, type AuthorizeResult, type CaptureRequest, type CaptureResult, type PaymentEvent,
  type PaymentProvider, type PaymentState, type RefundRequest, type RefundResult, type VoidRequest,
} from './types';

export interface PayPalProviderOptions {
  clientId: string;
  clientSecret: string;
  /** 'sandbox' (default) or 'production' (PAYPAL_ENVIRONMENT). */
  environment?: 'sandbox' | 'production';
  /** Another API host, e.g. a local test server (PAYPAL_API_BASE); overrides environment. */
  baseUrl?: string;
  timeoutMs?: number;
}

/** The SDK's ClientInterface, which it does not export. */
type SdkClient = ConstructorParameters<typeof OrdersController>[0];
type RequestBuilderFactory = ReturnType<SdkClient['getRequestBuilderFactory']>;

const HOSTS = { sandbox: 'https://api-m.sandbox.paypal.com', production: 'https://api-m.paypal.com' };

/** The SDK's controllers, pointed at the right host, plus an access token for calls the SDK lacks. */
export interface PayPalApi {
  baseUrl: string;
  orders: OrdersController;
  payments: PaymentsController;
  accessToken(): Promise<string>;
}

export function createPayPalApi(options: PayPalProviderOptions): PayPalApi {
  const environment = options.environment === 'production' ? Environment.Production : Environment.Sandbox;
  const baseUrl = (options.baseUrl ?? HOSTS[options.environment ?? 'sandbox']).replace(/\/+$/, '');
  const credentials = { oAuthClientId: options.clientId, oAuthClientSecret: options.clientSecret };

  let client: SdkClient;
  // Set below, once the client the token requests go through exists.
  let tokens: ClientCredentialsAuthManager;
  // One token for the whole process; concurrent first calls wait for the same token request.
  let current: OAuthToken | undefined;
  let pending: Promise<OAuthToken> | undefined;
  const token = async (): Promise<OAuthToken> => {
    if (tokens.isValid(current) && !tokens.isExpired(current)) return current;
    pending ??= tokens.fetchToken().then((fresh) => (current = fresh)).finally(() => { pending = undefined; });
    return pending;
  };
  const sdk = new Client({
    environment,
    timeout: options.timeoutMs ?? 30_000,
    clientCredentialsAuthCredentials: { ...credentials, oAuthTokenProvider: () => token() },
  });
  if (options.baseUrl) {
    const base = new URL(baseUrl);
    const factory = sdk.getRequestBuilderFactory();
    const rebase = (url: string) => {
      const original = new URL(url);
      return new URL(`${base.pathname.replace(/\/+$/, '')}${original.pathname}${original.search}`, base.origin).toString();
    };
    client = {
      getRequestBuilderFactory: (): RequestBuilderFactory => (method, path) => {
        const builder = factory(method, path);
        builder.interceptRequest((request) => ({ ...request, url: rebase(request.url) }));
        return builder;
      },
    };
  } else {
    client = sdk;
  }
  tokens = new ClientCredentialsAuthManager(credentials, client);

  return {
    baseUrl,
    orders: new OrdersController(client),
    payments: new PaymentsController(client),
    accessToken: async () => (await token()).accessToken,
  };
}

// Currencies PayPal takes without decimals (its list differs from ISO 4217 for HUF and TWD).
const ZERO_DECIMAL = new Set(['HUF', 'JPY', 'TWD']);

function decimals(currency: string): number {
  const upper = currency.toUpperCase();
  if (ZERO_DECIMAL.has(upper)) return 0;
  return new Intl.NumberFormat('en', { style: 'currency', currency: upper }).resolvedOptions().maximumFractionDigits ?? 2;
}

export function toPayPalValue(amountMinor: number, currency: string): string {
  const digits = decimals(currency);
  const negative = amountMinor < 0 ? '-' : '';
  const abs = String(Math.abs(amountMinor)).padStart(digits + 1, '0');
  return digits === 0 ? `${negative}${abs}` : `${negative}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

function money(amountMinor: number, currency: string) {
  return { currencyCode: currency.toUpperCase(), value: toPayPalValue(amountMinor, currency) };
}

/** PayPal's error name and first issue, e.g. UNPROCESSABLE_ENTITY / INSTRUMENT_DECLINED. */
function explain(err: ApiError): { issue: string; message: string } {
  const result = err.result as { name?: string; message?: string; details?: Array<{ issue?: string; description?: string }> } | undefined;
  const detail = result?.details?.[0];
  return {
    issue: detail?.issue ?? result?.name ?? `HTTP_${err.statusCode}`,
    message: [result?.message ?? err.message, detail?.description].filter(Boolean).join(' '),
  };
}

/** 400/403/404/422 are refusals retrying cannot fix; 401 (credentials), 409 (in progress), 429 and 5xx may pass. */
function refusalOrRethrow(err: unknown): never {
  if (err instanceof ApiError && [400, 403, 404, 422].includes(err.statusCode)) {
    const { issue, message } = explain(err);
    throw new PaymentRefused(issue, `PayPal: ${message}`);
  }
  if (err instanceof ApiError) {
    // The SDK leaves some messages empty (a failed OAuth token request); say what PayPal said.
    const result = err.result as { error?: string; error_description?: string; message?: string } | undefined;
    const said = result?.error_description ?? result?.message ?? result?.error;
    err.message = `PayPal answered ${err.statusCode}${err.message ? ` (${err.message})` : ''}${said ? `: ${said}` : ''}`;
  }
  throw err;
}

function link(links: LinkDescription[] | undefined, ...rels: string[]): string | undefined {
  for (const rel of rels) {
    const found = links?.find((l) => l.rel === rel);
    if (found) return found.href;
  }
  return undefined;
}

function authorizationOf(order: Order) {
  return order.purchaseUnits?.[0]?.payments?.authorizations?.[0];
}

function captureOf(order: Order) {
  const captures = order.purchaseUnits?.[0]?.payments?.captures ?? [];
  return captures.find((c) => c.status !== 'DECLINED' && c.status !== 'FAILED') ?? captures[0];
}

export function createPayPalProvider(options: PayPalProviderOptions | { api: PayPalApi }): PaymentProvider {
  const api = 'api' in options ? options.api : createPayPalApi(options);
  const prefer = 'return=representation';

  async function getOrder(orderId: string): Promise<Order> {
    try {
      return (await api.orders.getOrder({ id: orderId })).result;
    } catch (err) {
      refusalOrRethrow(err);
    }
  }

  /**
   * The order with its authorization: an approved order is authorized now. The request id is
   * derived from the order, so concurrent or repeated calls make one authorization.
   */
  async function authorized(orderId: string): Promise<Order> {
    const order = await getOrder(orderId);
    if (order.status !== 'APPROVED') return order;
    try {
      return (await api.orders.authorizeOrder({ id: orderId, paypalRequestId: `${orderId}/authorize`, prefer })).result as Order;
    } catch (err) {
      refusalOrRethrow(err);
    }
  }

  async function authorizationId(orderId: string, action: string): Promise<string> {
    const order = await authorized(orderId);
    const authorization = authorizationOf(order);
    if (!authorization?.id) throw new PaymentRefused('payment_unexpected_state', `Cannot ${action} PayPal order ${orderId}: it is ${order.status} and has no authorization`);
    return authorization.id;
  }

  return {
    name: 'paypal',

    async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
      let order: Order;
      try {
        order = (await api.orders.createOrder({
          paypalRequestId: request.idempotencyKey,
          prefer,
          body: {
            intent: CheckoutPaymentIntent.Authorize,
            purchaseUnits: [{
              referenceId: request.bookingReference,
              customId: request.bookingId,
              description: request.description.slice(0, 127),
              amount: money(request.amountMinor, request.currency),
            }],
            paymentSource: {
              paypal: {
                experienceContext: { returnUrl: request.returnUrl, cancelUrl: request.returnUrl, userAction: PaypalExperienceUserAction.Continue },
              },
            },
          },
        })).result;
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 422) {
          const { issue, message } = explain(err);
          return { status: 'declined', providerRef: null, reason: message, code: issue };
        }
        refusalOrRethrow(err);
      }
      const orderId = order.id!;
      const actionUrl = link(order.links, 'payer-action', 'approve');
      if (order.status === 'APPROVED' || order.status === 'COMPLETED') return { status: 'authorized', providerRef: orderId };
      if (!actionUrl) throw new Error(`PayPal order ${orderId} is ${order.status} without an approval link`);
      return { status: 'requires_action', providerRef: orderId, actionUrl };
    },

    async retrieve(providerRef: string): Promise<{ state: PaymentState; reason?: string }> {
      let order: Order;
      try {
        order = await authorized(providerRef);
      } catch (err) {
        if (err instanceof PaymentRefused && (err.code === 'RESOURCE_NOT_FOUND' || err.code === 'INVALID_RESOURCE_ID')) return { state: 'unknown', reason: err.message };
        // A refused authorization (e.g. INSTRUMENT_DECLINED: the payer's funding failed) is a decline.
        if (err instanceof PaymentRefused) return { state: 'declined', reason: err.message };
        throw err;
      }
      switch (order.status) {
        case 'CREATED': case 'SAVED': case 'PAYER_ACTION_REQUIRED': case 'APPROVED': return { state: 'requires_action' };
        case 'VOIDED': return { state: 'voided' };
        case 'COMPLETED': {
          const authorization = authorizationOf(order);
          switch (authorization?.status) {
            case 'CREATED': case 'PENDING': return { state: 'authorized' };
            case 'CAPTURED': case 'PARTIALLY_CAPTURED': return { state: 'captured' };
            case 'VOIDED': return { state: 'voided' };
            case 'DENIED': return { state: 'declined', reason: 'PayPal denied the authorization' };
            default: return { state: 'unknown', reason: `PayPal authorization ${authorization?.status ?? 'missing'}` };
          }
        }
        default: return { state: 'unknown', reason: `PayPal order ${order.status}` };
      }
    },

    async capture(request: CaptureRequest): Promise<CaptureResult> {
      const id = await authorizationId(request.providerRef, 'capture');
      try {
        const capture = (await api.payments.captureAuthorizedPayment({
          authorizationId: id,
          paypalRequestId: request.idempotencyKey,
          prefer,
          body: { amount: money(request.amountMinor, request.currency), finalCapture: true },
        })).result;
        if (capture.status === 'DECLINED' || capture.status === 'FAILED') {
          throw new PaymentRefused('capture_declined', `PayPal capture ${capture.id} ${capture.status}`);
        }
        return { status: 'captured', providerRef: request.providerRef };
      } catch (err) {
        if (err instanceof PaymentRefused) throw err;
        refusalOrRethrow(err);
      }
    },

    async void(request: VoidRequest): Promise<void> {
      const order = await authorized(request.providerRef);
      const authorization = authorizationOf(order);
      // Never authorized (the payer did not approve): nothing is held, the order just expires.
      if (!authorization?.id || authorization.status === 'VOIDED') return;
      try {
        await api.payments.voidPayment({ authorizationId: authorization.id, paypalRequestId: request.idempotencyKey, prefer });
      } catch (err) {
        refusalOrRethrow(err);
      }
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      const order = await getOrder(request.providerRef);
      const capture = captureOf(order);
      if (!capture?.id) throw new PaymentRefused('payment_unexpected_state', `Cannot refund PayPal order ${request.providerRef}: nothing was captured`);
      try {
        const refund = (await api.payments.refundCapturedPayment({
          captureId: capture.id,
          paypalRequestId: request.idempotencyKey,
          prefer,
          body: {
            amount: money(request.amountMinor, request.currency),
            customId: order.purchaseUnits?.[0]?.customId,
            noteToPayer: request.reason.slice(0, 255),
          },
        })).result;
        const status = refund.status === 'COMPLETED' ? 'succeeded' : refund.status === 'PENDING' ? 'pending' : 'failed';
        return { status, refundRef: refund.id! };
      } catch (err) {
        refusalOrRethrow(err);
      }
    },
  };
}

const EVENT_TYPES: Record<string, PaymentEvent['type']> = {
  'PAYMENT.AUTHORIZATION.CREATED': 'payment.authorized',
  'PAYMENT.AUTHORIZATION.VOIDED': 'payment.canceled',
  'PAYMENT.CAPTURE.COMPLETED': 'payment.captured',
  'PAYMENT.CAPTURE.DENIED': 'payment.declined',
  'PAYMENT.CAPTURE.DECLINED': 'payment.declined',
  'PAYMENT.CAPTURE.REFUNDED': 'payment.refunded',
};

const SIGNATURE_HEADERS = ['paypal-auth-algo', 'paypal-cert-url', 'paypal-transmission-id', 'paypal-transmission-sig', 'paypal-transmission-time'] as const;

/**
 * Verifies a PayPal webhook with PayPal's verify-webhook-signature API (the SDK has no call for
 * it) and maps it to a PaymentEvent. `headers` are the request's headers (lower-case names, as
 * node gives them); `rawBody` is the body exactly as received, passed on verbatim. Throws
 * WebhookRejected when PayPal says the signature is not valid or headers are missing; a PayPal
 * outage throws a plain Error (answer 5xx and PayPal redelivers). Returns null for event types we
 * do not act on, CHECKOUT.ORDER.APPROVED included: approval alone holds no money; retrieve()
 * authorizes the order when the payer comes back to returnUrl.
 */
export async function verifyPayPalWebhook(
  api: PayPalApi,
  webhookId: string,
  headers: Record<string, string | string[] | undefined>,
  rawBody: Buffer | string,
): Promise<PaymentEvent | null> {
  if (!webhookId) throw new WebhookRejected('PayPal webhook id is not configured (PAYPAL_WEBHOOK_ID)');
  const values: Record<string, string> = {};
  for (const name of SIGNATURE_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string' || value === '') throw new WebhookRejected(`Missing ${name} header`);
    values[name] = value;
  }
  const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  let event: any;
  try {
    event = JSON.parse(body);
  } catch {
    throw new WebhookRejected('PayPal webhook body is not JSON');
  }

  // The event goes back exactly as received: re-serializing could change it and break the signature.
  const verification = `{"auth_algo":${JSON.stringify(values['paypal-auth-algo'])},"cert_url":${JSON.stringify(values['paypal-cert-url'])},`
    + `"transmission_id":${JSON.stringify(values['paypal-transmission-id'])},"transmission_sig":${JSON.stringify(values['paypal-transmission-sig'])},`
    + `"transmission_time":${JSON.stringify(values['paypal-transmission-time'])},"webhook_id":${JSON.stringify(webhookId)},"webhook_event":${body}}`;
  const res = await fetch(`${api.baseUrl}/v1/notifications/verify-webhook-signature`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await api.accessToken()}`, 'content-type': 'application/json' },
    body: verification,
  });
  if (!res.ok) throw new Error(`PayPal verify-webhook-signature answered ${res.status}: ${await res.text()}`);
  const { verification_status: status } = await res.json() as { verification_status?: string };
  if (status !== 'SUCCESS') throw new WebhookRejected(`PayPal webhook signature verification failed (${status ?? 'no status'})`);

  const type = EVENT_TYPES[event.event_type];
  if (!type) return null;
  const resource = event.resource ?? {};
  const up = (resource.links as LinkDescription[] | undefined)?.find((l) => l.rel === 'up')?.href;
  const providerRef: string = resource.supplementary_data?.related_ids?.order_id ?? up?.split('/').pop() ?? resource.id;
  const reason = type === 'payment.declined' ? resource.status_details?.reason ?? event.summary : undefined;
  return {
    provider: 'paypal',
    eventId: event.id,
    type,
    providerRef,
    bookingId: resource.custom_id ?? null,
    ...(reason ? { reason } : {}),
  };
}
