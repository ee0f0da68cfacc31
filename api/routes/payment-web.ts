/**
 * Where payment providers and customers reach us outside the JSON API: signed webhooks
 * (verified on the raw body, deduplicated by event id, delivered to the booking's workflow as
 * signals) and the sandbox provider's hosted payment page (the "3-D Secure" step).
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import { config } from '../../platform/config';
import { completeSandboxAction, getSandboxPayment } from '../../integrations/payments/sandbox';
import { parseStripeWebhook } from '../../integrations/payments/stripe';
import { createPayPalApi, verifyPayPalWebhook, type PayPalApi } from '../../integrations/payments/paypal';
import { paypalOptionsFromEnv } from '../../integrations/payments';
import { WebhookRejected, type PaymentEvent } from '../../integrations/payments/types';
import { bookingWorkflowId, paymentSignal } from '../../workflows/booking-messages';
import { Problem } from '../http/problem';
import { route } from '../http/routes';

/** Records the event once; signals the workflow. A redelivery is acknowledged and not signalled again. */
async function deliver(ctx: Koa.Context, event: PaymentEvent, payload: unknown): Promise<{ received: true; duplicate: boolean }> {
  const seen = await ctx.knex('webhook_events').where({ provider: event.provider, event_id: event.eventId }).first('event_id');
  if (seen) return { received: true, duplicate: true };
  if (event.bookingId) {
    const client = await ctx.temporalClient();
    // Signal before recording: if the signal fails, the provider retries and nothing is lost.
    await client.workflow.getHandle(bookingWorkflowId(event.bookingId)).signal(paymentSignal, { providerRef: event.providerRef, type: event.type, reason: event.reason })
      .catch((err: Error) => {
        if (err.name !== 'WorkflowNotFoundError') throw err;
        ctx.state.log.warn({ bookingId: event.bookingId, eventId: event.eventId }, 'webhook for a booking without a running workflow');
      });
  }
  await ctx.knex('webhook_events').insert({ provider: event.provider, event_id: event.eventId, type: event.type, payload: JSON.stringify(payload), booking_id: event.bookingId })
    .onConflict(['provider', 'event_id']).ignore();
  return { received: true, duplicate: false };
}

const paymentWebhookReceipt = z.object({
  received: z.literal(true),
  duplicate: z.boolean().optional().describe('Already delivered before: acknowledged, not signalled again'),
  ignored: z.literal(true).optional().describe('An event type the platform does not act on'),
});

let paypal: PayPalApi | undefined;
function paypalApi(): PayPalApi | undefined {
  if (paypal) return paypal;
  const options = paypalOptionsFromEnv(process.env);
  return (paypal = options ? createPayPalApi(options) : undefined);
}

export const webhookRoutes = [
  route({
    method: 'POST', path: '/api/v1/webhooks/stripe', operationId: 'stripeWebhook', tag: 'Webhooks', auth: 'public',
    summary: 'Stripe events, verified with the Stripe-Signature header on the raw body',
    responses: { 200: { description: 'Accepted (or a duplicate, acknowledged)', schema: paymentWebhookReceipt }, 400: { description: 'Signature missing, wrong, or too old' }, 404: { description: 'Stripe is not configured' } },
    handler: async (ctx) => {
      if (!config.stripe.webhookSecret) throw new Problem(404, 'provider_not_configured', 'Stripe webhooks are not configured here (STRIPE_WEBHOOK_SECRET).');
      let event;
      try {
        event = parseStripeWebhook(ctx.request.rawBody ?? Buffer.alloc(0), ctx.get('stripe-signature') || undefined, config.stripe.webhookSecret);
      } catch (err) {
        if (err instanceof WebhookRejected) throw new Problem(400, 'invalid_signature', err.message);
        throw err;
      }
      if (!event) return { body: { received: true, ignored: true } };
      return { body: await deliver(ctx, event, ctx.request.body) };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/webhooks/paypal', operationId: 'paypalWebhook', tag: 'Webhooks', auth: 'public',
    summary: 'PayPal events, verified by PayPal\'s verify-webhook-signature API (PAYPAL_WEBHOOK_ID)',
    responses: { 200: { description: 'Accepted (or a duplicate, acknowledged)', schema: paymentWebhookReceipt }, 400: { description: 'Verification failed' }, 404: { description: 'PayPal webhooks are not configured' } },
    handler: async (ctx) => {
      const api = paypalApi();
      if (!api || !process.env.PAYPAL_WEBHOOK_ID) {
        throw new Problem(404, 'provider_not_configured', 'PayPal webhooks are not configured here (PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_WEBHOOK_ID).');
      }
      let event;
      try {
        event = await verifyPayPalWebhook(api, process.env.PAYPAL_WEBHOOK_ID, ctx.headers, ctx.request.rawBody ?? Buffer.alloc(0));
      } catch (err) {
        if (err instanceof WebhookRejected) throw new Problem(400, 'invalid_signature', err.message);
        throw err;
      }
      if (!event) return { body: { received: true, ignored: true } };
      return { body: await deliver(ctx, event, ctx.request.body) };
    },
  }),
];

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const money = (minor: number, currency: string) => new Intl.NumberFormat('en', { style: 'currency', currency }).format(minor / 100);

function page(title: string, body: string) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d2630}
.card{border:1px solid #d7dde3;border-radius:12px;padding:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;margin:.3rem .3rem 0 0;cursor:pointer}
.ok{background:#1f7a4d;color:#fff}.no{background:#e8ecef}.muted{color:#5b6770;font-size:.9rem}</style></head><body><div class="card">${body}</div>
<p class="muted">Spirit Tours sandbox payment page: no real money moves here.</p></body></html>`;
}

const sandboxId = z.string().regex(/^sbx_[A-Za-z0-9_]{1,40}$/);

/**
 * A fixed-window count per key, in this process (bounded: the oldest keys go first). The return
 * page is public and each hit would signal a workflow, so it is limited per address and a
 * booking is signalled at most once per window.
 */
export function fixedWindowLimiter(limit: number, windowMs: number, maxKeys = 10_000) {
  const windows = new Map<string, { start: number; count: number }>();
  return (key: string, now = Date.now()): boolean => {
    let w = windows.get(key);
    if (!w || now - w.start >= windowMs) {
      windows.delete(key);
      if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!);
      windows.set(key, (w = { start: now, count: 0 }));
    }
    return ++w.count <= limit;
  };
}

const returnsPerAddress = fixedWindowLimiter(60, 60_000);
const signalsPerBooking = fixedWindowLimiter(1, 10_000);

/** The hosted pages; with the sandbox off (production without PAYMENT_SANDBOX=1) its page answers 404 whatever the id. */
export function mountSandboxPage(router: Router, sandboxEnabled = true): void {
  const sandboxOff = () => new Problem(404, 'resource_missing', 'No such sandbox payment: the sandbox payment provider is not enabled here.');
  // Where providers send the customer back after their page (PayPal approval, a 3-D Secure
  // redirect): the booking's workflow asks the provider where the payment stands.
  router.get('/pay/return/:bookingId', async (ctx: Koa.Context) => {
    ctx.state.route = '/pay/return/{bookingId}';
    if (!returnsPerAddress(ctx.ip)) throw new Problem(429, 'rate_limited', 'Too many requests; wait a minute.', { headers: { 'Retry-After': '60' } });
    const id = z.uuid().safeParse(ctx.params.bookingId);
    // Only a booking that was sent to a provider's page comes back from one.
    const booking = id.success
      ? await ctx.knex('bookings as b').where('b.id', id.data)
        .whereExists((q) => q.select(ctx.knex.raw('1')).from('payments as p').whereRaw('p.booking_id = b.id').whereIn('p.provider', ['stripe', 'paypal', 'sandbox']))
        .first('b.id', 'b.reference')
      : undefined;
    if (!booking) throw new Problem(404, 'resource_missing', 'No such booking.');
    if (signalsPerBooking(booking.id)) {
      const client = await ctx.temporalClient();
      await client.workflow.getHandle(bookingWorkflowId(booking.id)).signal(paymentSignal, { providerRef: '', type: 'payment.returned' })
        .catch((err: Error) => ctx.state.log.warn({ err: err.message, bookingId: booking.id }, 'return from payment page for a closed booking'));
    }
    ctx.type = 'html';
    ctx.body = page('Payment', `<h1>Thank you</h1><p>We are confirming your payment for booking ${escape(booking.reference)}. Your confirmation follows by email.</p>`);
  });

  router.get('/pay/sandbox/:id', async (ctx: Koa.Context) => {
    ctx.state.route = '/pay/sandbox/{id}';
    if (!sandboxEnabled) throw sandboxOff();
    const id = sandboxId.safeParse(ctx.params.id);
    const payment = id.success ? await getSandboxPayment(ctx.knex, id.data) : undefined;
    if (!payment) throw new Problem(404, 'resource_missing', 'No such sandbox payment.');
    ctx.type = 'html';
    if (payment.status !== 'requires_action') {
      ctx.body = page('Payment', `<h1>Payment ${escape(payment.status)}</h1><p>${escape(payment.description)}</p>`);
      return;
    }
    ctx.body = page('Confirm your payment', `<h1>Confirm your payment</h1><p>${escape(payment.description)}</p>
<p><strong>${escape(money(payment.amountMinor, payment.currency))}</strong></p>
<p class="muted">Your bank asks you to confirm this payment (sandbox 3-D Secure).</p>
<form method="post"><button class="ok" name="outcome" value="authenticate">Confirm payment</button><button class="no" name="outcome" value="fail">Decline</button></form>`);
  });
  router.post('/pay/sandbox/:id', async (ctx: Koa.Context) => {
    ctx.state.route = '/pay/sandbox/{id}';
    if (!sandboxEnabled) throw sandboxOff();
    const id = sandboxId.safeParse(ctx.params.id);
    const form = new URLSearchParams(ctx.request.rawBody?.toString('utf8') ?? '');
    const outcome = form.get('outcome') ?? (ctx.request.body as { outcome?: string } | undefined)?.outcome;
    if (!id.success) throw new Problem(404, 'resource_missing', 'No such sandbox payment.');
    if (outcome !== 'authenticate' && outcome !== 'fail') throw new Problem(400, 'validation_failed', 'outcome must be "authenticate" or "fail".', { param: 'outcome' });
    const before = await getSandboxPayment(ctx.knex, id.data);
    if (!before) throw new Problem(404, 'resource_missing', 'No such sandbox payment.');
    const after = await completeSandboxAction(ctx.knex, id.data, outcome);
    if (before.status === 'requires_action') {
      const client = await ctx.temporalClient();
      await client.workflow.getHandle(bookingWorkflowId(after.bookingId)).signal(paymentSignal, {
        providerRef: after.id, type: after.status === 'authorized' ? 'payment.authorized' : 'payment.declined', reason: after.declineReason ?? undefined,
      });
    }
    ctx.type = 'html';
    ctx.body = page('Payment', after.status === 'authorized' || after.status === 'captured'
      ? `<h1>Thank you</h1><p>Your payment of ${escape(money(after.amountMinor, after.currency))} is confirmed. Your booking confirmation follows by email.</p>`
      : `<h1>Payment not completed</h1><p>The payment was declined.</p>`);
  });
}
