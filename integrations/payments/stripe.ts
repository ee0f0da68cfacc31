/**
 * Stripe, through the official SDK: one PaymentIntent per authorization, confirmed at once with
 * manual capture, so authorize holds the money and capture takes it. Every mutating call sends
 * our idempotency key as Stripe's Idempotency-Key, so a retried activity replays Stripe's first
 * answer instead of charging again. Card declines are results, not exceptions; other refusals
 * Stripe reports (bad request, wrong state) become PaymentRefused; network and 5xx errors are
 * rethrown for the activity to retry.
 */
import Stripe from 'stripe';
import {
  PaymentRefused, WebhookRejected,
  type AuthorizeRequest, type AuthorizeResult, type CaptureRequest, type CaptureResult, type PaymentEvent,
  type PaymentProvider, type PaymentState, type RefundRequest, type RefundResult, type VoidRequest,
} from './types';

export interface StripeProviderOptions {
  secretKey: string;
  /** Another API host, e.g. stripe-mock or a test server: `http://127.0.0.1:12111` (STRIPE_API_BASE). */
  apiBase?: string;
  webhookSecret?: string;
  /**
   * Our public base URL: when Stripe asks for `use_stripe_sdk` instead of a redirect, the customer
   * is sent to our own page `${publicUrl}/pay/stripe/<payment intent id>`, which runs Stripe.js.
   */
  publicUrl?: string;
  maxNetworkRetries?: number;
}

/** The SDK's `host`, `port` and `protocol` options for an API base URL. */
export function stripeHostOptions(apiBase: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`STRIPE_API_BASE must be an http(s) URL, got "${apiBase}"`);
  if (url.pathname !== '/' && url.pathname !== '') throw new Error(`STRIPE_API_BASE cannot have a path (the SDK always calls /v1/...), got "${apiBase}"`);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}

export function createStripeClient(options: Pick<StripeProviderOptions, 'secretKey' | 'apiBase' | 'maxNetworkRetries'>): Stripe {
  return new Stripe(options.secretKey, {
    ...(options.apiBase ? stripeHostOptions(options.apiBase) : {}),
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    appInfo: { name: 'spirit-tours-platform' },
  });
}

/** Stripe's code for a decline: the specific decline_code when there is one (insufficient_funds), else the code. */
function declineCode(error: { code?: string | null; decline_code?: string | null } | null | undefined): string {
  const specific = error?.decline_code;
  if (specific && specific !== 'generic_decline') return specific;
  return error?.code || 'card_declined';
}

function isStripeError(err: unknown): err is Stripe.errors.StripeError {
  return err instanceof Stripe.errors.StripeError;
}

/** A refusal Stripe gave that retrying cannot change; anything else (network, 5xx, auth, rate limit) is rethrown. */
function refusalOrRethrow(err: unknown): never {
  if (err instanceof Stripe.errors.StripeCardError || err instanceof Stripe.errors.StripeInvalidRequestError || err instanceof Stripe.errors.StripeIdempotencyError) {
    throw new PaymentRefused(err.code || (err.rawType ?? 'invalid_request_error'), err.message);
  }
  throw err;
}

export function createStripeProvider(options: StripeProviderOptions): PaymentProvider {
  const stripe = createStripeClient(options);
  const publicUrl = (options.publicUrl ?? '').replace(/\/+$/, '');

  function toAuthorizeResult(intent: Stripe.PaymentIntent): AuthorizeResult | undefined {
    switch (intent.status) {
      case 'requires_capture':
      case 'succeeded': // never with manual capture, but the money is held either way
        return { status: 'authorized', providerRef: intent.id };
      case 'requires_action': {
        const redirect = intent.next_action?.redirect_to_url?.url;
        return { status: 'requires_action', providerRef: intent.id, actionUrl: redirect ?? `${publicUrl}/pay/stripe/${intent.id}` };
      }
      case 'requires_payment_method': {
        const error = intent.last_payment_error;
        return { status: 'declined', providerRef: intent.id, reason: error?.message ?? 'The payment was declined.', code: declineCode(error) };
      }
      case 'canceled':
        return { status: 'declined', providerRef: intent.id, reason: `The payment was canceled (${intent.cancellation_reason ?? 'no reason given'}).`, code: 'canceled' };
      default:
        return undefined; // processing, requires_confirmation: look again
    }
  }

  return {
    name: 'stripe',

    async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.create({
          amount: request.amountMinor,
          currency: request.currency.toLowerCase(),
          payment_method: request.paymentMethod,
          confirm: true,
          capture_method: 'manual',
          return_url: request.returnUrl,
          description: request.description,
          metadata: { bookingId: request.bookingId, bookingReference: request.bookingReference },
        }, { idempotencyKey: request.idempotencyKey });
      } catch (err) {
        if (err instanceof Stripe.errors.StripeCardError) {
          return { status: 'declined', providerRef: err.payment_intent?.id ?? null, reason: err.message, code: declineCode(err) };
        }
        if (err instanceof Stripe.errors.StripeInvalidRequestError && err.param === 'payment_method') {
          return { status: 'declined', providerRef: err.payment_intent?.id ?? null, reason: err.message, code: 'invalid_payment_method' };
        }
        refusalOrRethrow(err);
      }
      const result = toAuthorizeResult(intent) ?? toAuthorizeResult(await stripe.paymentIntents.retrieve(intent.id));
      if (!result) throw new Error(`Stripe PaymentIntent ${intent.id} is still ${intent.status}; retry later`);
      return result;
    },

    async retrieve(providerRef: string): Promise<{ state: PaymentState; reason?: string }> {
      let intent: Stripe.PaymentIntent;
      try {
        intent = await stripe.paymentIntents.retrieve(providerRef);
      } catch (err) {
        if (isStripeError(err) && err.statusCode === 404) return { state: 'unknown', reason: err.message };
        throw err;
      }
      switch (intent.status) {
        case 'requires_capture': return { state: 'authorized' };
        case 'succeeded': return { state: 'captured' };
        case 'canceled': return { state: 'voided', reason: intent.cancellation_reason ?? undefined };
        case 'requires_action':
        case 'requires_confirmation': return { state: 'requires_action' };
        case 'requires_payment_method':
          // After a failed attempt (declined card, failed 3-D Secure) Stripe keeps the error here.
          return intent.last_payment_error
            ? { state: 'declined', reason: intent.last_payment_error.message ?? declineCode(intent.last_payment_error) }
            : { state: 'requires_action' };
        default: return { state: 'unknown', reason: `Stripe status ${intent.status}` };
      }
    },

    async capture(request: CaptureRequest): Promise<CaptureResult> {
      try {
        const intent = await stripe.paymentIntents.capture(request.providerRef, { amount_to_capture: request.amountMinor }, { idempotencyKey: request.idempotencyKey });
        if (intent.status !== 'succeeded') throw new PaymentRefused('payment_intent_unexpected_state', `Stripe PaymentIntent ${intent.id} is ${intent.status} after capture`);
        return { status: 'captured', providerRef: intent.id };
      } catch (err) {
        if (err instanceof PaymentRefused) throw err;
        refusalOrRethrow(err);
      }
    },

    async void(request: VoidRequest): Promise<void> {
      try {
        await stripe.paymentIntents.cancel(request.providerRef, {}, { idempotencyKey: request.idempotencyKey });
      } catch (err) {
        // Canceled already (by us under another key, or by Stripe on expiry): nothing is held.
        if (isStripeError(err) && err.payment_intent?.status === 'canceled') return;
        refusalOrRethrow(err);
      }
    },

    async refund(request: RefundRequest): Promise<RefundResult> {
      try {
        const refund = await stripe.refunds.create({
          payment_intent: request.providerRef,
          amount: request.amountMinor,
          metadata: { reason: request.reason.slice(0, 500) },
        }, { idempotencyKey: request.idempotencyKey });
        if (refund.currency && refund.currency.toUpperCase() !== request.currency.toUpperCase()) {
          throw new PaymentRefused('currency_mismatch', `Stripe refunded in ${refund.currency}, not ${request.currency}`);
        }
        const status = refund.status === 'succeeded' ? 'succeeded' : refund.status === 'pending' || refund.status === 'requires_action' ? 'pending' : 'failed';
        return { status, refundRef: refund.id };
      } catch (err) {
        if (err instanceof PaymentRefused) throw err;
        refusalOrRethrow(err);
      }
    },
  };
}

const EVENT_TYPES: Record<string, PaymentEvent['type']> = {
  'payment_intent.amount_capturable_updated': 'payment.authorized',
  'payment_intent.payment_failed': 'payment.declined',
  'payment_intent.succeeded': 'payment.captured',
  'payment_intent.canceled': 'payment.canceled',
  'charge.refunded': 'payment.refunded',
};

/**
 * Verifies a Stripe webhook (the `Stripe-Signature` header: t=<unix>,v1=<HMAC-SHA256 of
 * "<t>.<raw body>">, within `toleranceSeconds` of now) and maps it to a PaymentEvent. Needs the
 * raw body exactly as received. Throws WebhookRejected when verification fails; returns null for
 * event types we do not act on (the caller acknowledges and ignores them).
 */
export function parseStripeWebhook(rawBody: Buffer | string, signatureHeader: string | undefined, webhookSecret: string, toleranceSeconds = 300): PaymentEvent | null {
  if (!webhookSecret) throw new WebhookRejected('Stripe webhook secret is not configured (STRIPE_WEBHOOK_SECRET)');
  if (!signatureHeader) throw new WebhookRejected('Missing Stripe-Signature header');
  if (rawBody.length === 0) throw new WebhookRejected('Empty webhook body');
  let event: Stripe.Event;
  try {
    event = Stripe.webhooks.constructEvent(rawBody, signatureHeader, webhookSecret, toleranceSeconds);
  } catch (err) {
    throw new WebhookRejected(`Stripe signature verification failed: ${(err as Error).message}`);
  }

  const type = EVENT_TYPES[event.type];
  if (!type) return null;
  const object = event.data.object as Stripe.PaymentIntent | Stripe.Charge;
  let providerRef: string;
  let reason: string | undefined;
  if (object.object === 'charge') {
    const intent = object.payment_intent;
    providerRef = typeof intent === 'string' ? intent : intent?.id ?? object.id;
  } else {
    providerRef = object.id;
    if (type === 'payment.declined') reason = object.last_payment_error?.message ?? undefined;
    if (type === 'payment.canceled') reason = object.cancellation_reason ?? undefined;
  }
  return {
    provider: 'stripe',
    eventId: event.id,
    type,
    providerRef,
    bookingId: object.metadata?.bookingId ?? null,
    ...(reason ? { reason } : {}),
  };
}
