/**
 * A booking's payment page, reached by the signed link the chat sends (GET /pay/booking/{token};
 * the token is integrations/email/links.ts signPaymentToken: it names the booking and expires).
 * It shows what is due now (models/booking-payments.ts, as the booking workflow reads it) and pays
 * through the same code path as POST /api/v1/bookings/{id}/payments: the booking workflow's `pay`
 * update, with start (services/booking-workflows steerBookingWithin), naming the purpose and the
 * amount shown, so a stale page is refused instead of paying something else.
 *
 * What it offers follows the providers enabled here: the sandbox's test methods (development and
 * tests; the 3-D Secure one continues on the sandbox's hosted page), and PayPal, whose approval
 * page the customer is sent to (its actionUrl). Stripe takes a card only through Stripe.js on a
 * page of ours, which is not built: with only Stripe enabled, the page says so and gives the
 * booking reference for the team. The form carries an attempt id made when the page was shown:
 * a double submit is one update (one payment).
 */
import type Koa from 'koa';
import type Router from '@koa/router';
import crypto from 'node:crypto';
import { z } from 'zod';
import { config } from '../../platform/config';
import { emailLinkKeys } from '../../platform/secrets';
import { verifyPaymentToken } from '../../integrations/email/links';
import { bookingPaymentState, type BookingPaymentState } from '../../models/booking-payments';
import { steerBookingWithin } from '../../services/booking-workflows';
import { payUpdate } from '../../workflows/booking-messages';
import { Refused } from '../../domain/refusals';
import { currencyExponent } from '../../domain/booking-rules';
import { fixedWindowLimiter } from './payment-web';

const SANDBOX_METHODS = ['pm_card_visa', 'pm_card_authenticationRequired', 'pm_card_chargeDeclined'] as const;

const TEXT = {
  en: {
    title: 'Pay your booking', due: { deposit: 'Deposit due now', full: 'Amount due', balance: 'Balance due' }, nothing: 'There is nothing to pay on this booking now.',
    gone: 'This payment link is not valid or has expired. Ask us for a new one in the chat.', holdUntil: 'Seats held until',
    sandbox: 'Sandbox test payments (no real money moves):', methods: { pm_card_visa: 'Pay with a test card', pm_card_authenticationRequired: 'Test card with 3-D Secure', pm_card_chargeDeclined: 'Test card that is declined' },
    paypal: 'Pay with PayPal', noProvider: 'Online payment is not available here yet: write to us in the chat and quote your booking reference.',
    paid: (amount: string) => `Thank you: your payment of ${amount} is confirmed. Your booking confirmation follows by email.`,
    declined: (reason: string) => `The payment was declined (${reason}). You can try another payment method from this link.`,
    review: 'Your payment is being reviewed; nothing is charged until it is approved. We will tell you in the chat.',
    refused: 'The payment could not be accepted. Write to us in the chat and we will help.',
    failed: 'The booking could not be completed; the payment was voided and nothing was charged.',
    processing: 'Your payment is being processed. Refresh this page in a few seconds.',
    refresh: 'Refresh', busy: 'Too many attempts; wait a minute.',
  },
  es: {
    title: 'Paga tu reserva', due: { deposit: 'Señal a pagar ahora', full: 'Importe a pagar', balance: 'Saldo pendiente' }, nothing: 'No hay nada que pagar en esta reserva ahora.',
    gone: 'Este enlace de pago no es válido o ha caducado. Pídenos uno nuevo en el chat.', holdUntil: 'Plazas reservadas hasta',
    sandbox: 'Pagos de prueba del sandbox (no se mueve dinero real):', methods: { pm_card_visa: 'Pagar con tarjeta de prueba', pm_card_authenticationRequired: 'Tarjeta de prueba con 3-D Secure', pm_card_chargeDeclined: 'Tarjeta de prueba rechazada' },
    paypal: 'Pagar con PayPal', noProvider: 'El pago en línea aún no está disponible aquí: escríbenos en el chat indicando la referencia de tu reserva.',
    paid: (amount: string) => `Gracias: tu pago de ${amount} está confirmado. Te enviamos la confirmación de la reserva por correo.`,
    declined: (reason: string) => `El pago ha sido rechazado (${reason}). Puedes probar otro medio de pago desde este enlace.`,
    review: 'Tu pago está en revisión; no se cobra nada hasta que se apruebe. Te avisaremos en el chat.',
    refused: 'No hemos podido aceptar el pago. Escríbenos en el chat y te ayudamos.',
    failed: 'No se ha podido completar la reserva; el pago se ha anulado y no se ha cobrado nada.',
    processing: 'Estamos procesando tu pago. Recarga esta página en unos segundos.',
    refresh: 'Recargar', busy: 'Demasiados intentos; espera un minuto.',
  },
} as const;

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function money(minor: number, currency: string, lang: 'es' | 'en'): string {
  const exp = currencyExponent(currency);
  return new Intl.NumberFormat(lang === 'es' ? 'es-ES' : 'en-GB', { style: 'currency', currency, minimumFractionDigits: exp, maximumFractionDigits: exp }).format(minor / 10 ** exp);
}

function render(ctx: Koa.Context, status: number, lang: 'es' | 'en', body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(TEXT[lang].title)}</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d2630}
.card{border:1px solid #d7dde3;border-radius:12px;padding:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;margin:.3rem .3rem 0 0;cursor:pointer;background:#1f7a4d;color:#fff}
.muted{color:#5b6770;font-size:.9rem}</style></head><body><div class="card">${body}</div></body></html>`;
}

const tokenOf = (ctx: Koa.Context) => z.string().min(10).max(400).regex(/^[A-Za-z0-9_.-]+$/).safeParse(ctx.params.token);

async function stateOf(ctx: Koa.Context): Promise<BookingPaymentState | null> {
  const token = tokenOf(ctx);
  const bookingId = token.success ? verifyPaymentToken(token.data, emailLinkKeys().accepted) : null;
  return bookingId ? (await bookingPaymentState(ctx.knex, bookingId)) ?? null : null;
}

function summary(s: BookingPaymentState): string {
  const t = TEXT[s.language];
  const when = new Intl.DateTimeFormat(s.language === 'es' ? 'es-ES' : 'en-GB', { dateStyle: 'full', timeStyle: 'short', timeZone: s.timezone }).format(new Date(s.startsAt));
  const hold = s.holdExpiresAt ? `<p class="muted">${escape(t.holdUntil)} ${escape(new Intl.DateTimeFormat(s.language === 'es' ? 'es-ES' : 'en-GB', { timeStyle: 'short', dateStyle: 'short', timeZone: s.timezone }).format(new Date(s.holdExpiresAt)))}</p>` : '';
  return `<h1>${escape(t.title)}</h1><p><strong>${escape(s.reference)}</strong> — ${escape(s.tourTitle)}<br>${escape(when)}</p>${s.due ? `<p>${escape(t.due[s.due.purpose])}: <strong>${escape(money(s.due.amountMinor, s.currency, s.language))}</strong></p>` : ''}${hold}`;
}

const postsPerAddress = fixedWindowLimiter(30, 60_000);

export function mountBookingPayPage(router: Router, providers: readonly string[]): void {
  router.get('/pay/booking/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/pay/booking/{token}';
    const s = await stateOf(ctx);
    if (!s) return render(ctx, 404, ctx.acceptsLanguages('en', 'es') === 'es' ? 'es' : 'en', `<p>${escape(TEXT.en.gone)}</p><p>${escape(TEXT.es.gone)}</p>`);
    const t = TEXT[s.language];
    if (!s.due) return render(ctx, 200, s.language, `${summary(s)}<p>${escape(t.nothing)}</p>`);
    const attempt = crypto.randomUUID();
    const forms: string[] = [];
    if (providers.includes('sandbox')) {
      forms.push(`<p class="muted">${escape(t.sandbox)}</p>${SANDBOX_METHODS.map((m) => `<form method="post"><input type="hidden" name="attempt" value="${attempt}"><button name="method" value="${m}">${escape(t.methods[m])}</button></form>`).join('')}`);
    }
    if (providers.includes('paypal')) forms.push(`<form method="post"><input type="hidden" name="attempt" value="${attempt}"><button name="method" value="paypal">${escape(t.paypal)}</button></form>`);
    if (!forms.length) forms.push(`<p>${escape(t.noProvider)}</p>`);
    render(ctx, 200, s.language, `${summary(s)}${forms.join('')}`);
  });

  router.post('/pay/booking/:token', async (ctx: Koa.Context) => {
    ctx.state.route = '/pay/booking/{token}';
    const s = await stateOf(ctx);
    if (!s) return render(ctx, 404, 'en', `<p>${escape(TEXT.en.gone)}</p><p>${escape(TEXT.es.gone)}</p>`);
    const t = TEXT[s.language];
    if (!postsPerAddress(ctx.ip)) { ctx.set('Retry-After', '60'); return render(ctx, 429, s.language, `<p>${escape(t.busy)}</p>`); }
    if (!s.due) return render(ctx, 200, s.language, `${summary(s)}<p>${escape(t.nothing)}</p>`);
    const form = new URLSearchParams(ctx.request.rawBody?.toString('utf8') ?? '');
    const method = form.get('method') ?? '';
    const attempt = z.uuid().safeParse(form.get('attempt'));
    const provider = method === 'paypal' ? 'paypal' : (SANDBOX_METHODS as readonly string[]).includes(method) ? 'sandbox' : null;
    if (!provider || !providers.includes(provider) || !attempt.success) return render(ctx, 400, s.language, `${summary(s)}<p>${escape(t.refused)}</p>`);
    let answer;
    try {
      answer = await steerBookingWithin(await ctx.temporalClient(), s.bookingId, payUpdate, { updateId: `paylink-${s.bookingId}-${attempt.data}`, answerWithinMs: config.paymentAnswerWithinMs }, {
        provider, paymentMethod: method, actor: null, purpose: s.due.purpose, amountMinor: s.due.amountMinor, clientIp: ctx.ip || null,
      });
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      // Paid meanwhile, closed, another payment under way, or no longer what the page showed.
      const now = await bookingPaymentState(ctx.knex, s.bookingId);
      return render(ctx, 409, s.language, `${summary(now ?? s)}<p>${escape(now?.due ? err.message : t.nothing)}</p>`);
    }
    const refresh = `<p><a href="${escape(ctx.path)}">${escape(t.refresh)}</a></p>`;
    if (!answer.done) return render(ctx, 202, s.language, `${summary(s)}<p>${escape(t.processing)}</p>${refresh}`);
    const r = answer.result;
    switch (r.outcome) {
      case 'succeeded': return render(ctx, 200, s.language, `${summary({ ...s, due: null, holdExpiresAt: null })}<p role="status">${escape(t.paid(money(r.amountMinor ?? s.due.amountMinor, s.currency, s.language)))}</p>`);
      case 'requires_action':
        // The provider's page (sandbox 3-D Secure, PayPal approval) takes it from here.
        if (r.actionUrl && /^https?:\/\//i.test(r.actionUrl)) { ctx.status = 303; ctx.redirect(r.actionUrl); return; }
        return render(ctx, 202, s.language, `${summary(s)}<p>${escape(t.processing)}</p>${refresh}`);
      case 'declined': return render(ctx, 402, s.language, `${summary(s)}<p>${escape(t.declined(String(r.reason ?? r.code ?? '')))}</p>${refresh}`);
      case 'review': return render(ctx, 202, s.language, `${summary(s)}<p>${escape(t.review)}</p>`);
      case 'refused': return render(ctx, 402, s.language, `${summary(s)}<p>${escape(t.refused)}</p>`);
      default: return render(ctx, 409, s.language, `${summary(s)}<p>${escape(t.failed)}</p>`);
    }
  });
}
